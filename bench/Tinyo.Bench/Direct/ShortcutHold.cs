using System.Net;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Bench.Direct;

/// <summary>
/// <c>Tinyo.Bench sockmap CGROUP2_DIR SUBNET</c>: attaches the eBPF TCP shortcut to a cgroup for bench/direct.sh,
/// prints "attached" (or "fallback: REASON" and exits 1), holds it until stdin closes, then prints the counters and
/// removes it. The shell script cannot load BPF itself; this is the same code the runtime uses.
/// </summary>
internal static class ShortcutHold
{
    public static int Run(string[] args)
    {
        if (args.Length != 2) { Console.Error.WriteLine("usage: Tinyo.Bench sockmap CGROUP2_DIR SUBNET"); return 2; }
        using var s = SockmapShortcut.TryAttach(args[0], IPNetwork.Parse(args[1]), out var why);
        if (s is null) { Console.WriteLine("fallback: " + why); return 1; }
        Console.WriteLine("attached");
        Console.Out.Flush();
        while (Console.In.ReadLine() is not null) { }
        Console.WriteLine(s.ReadCounters());
        return 0;
    }
}
