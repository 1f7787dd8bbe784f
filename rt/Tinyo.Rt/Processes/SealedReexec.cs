using System.Runtime.InteropServices;
using System.Text;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Re-executes the running runtime from a sealed copy of its own binary before it enters a container
/// (<c>tinyort exec</c>): the CVE-2019-5736 defence for the exec path, as <see cref="SealedExecutable"/> is for init.
/// </summary>
/// <remarks>
/// The exec'd command is a child cloned from this process (sharing its memory until its execve), so until and during
/// that execve its <c>/proc/PID/exe</c> is this process's binary — and a command that is a <c>#!/proc/self/exe</c>
/// script (or any interpreter path ending there) makes the kernel start this binary again inside the container, where
/// a waiting process can hold <c>/proc/PID/exe</c> and reopen it for writing once the runtime has exited, replacing
/// the host's runtime. Re-executed from a sealed copy (a read-only overlay, or a sealed memfd), the binary the
/// container can reach is one nobody can write. A framework-dependent build (an apphost finding its .dll beside its
/// real path) cannot run sealed and is left as it is, as with init.
/// </remarks>
public static unsafe class SealedReexec
{
    /// <summary>Set in the environment of the sealed image, so that it does not re-execute itself again.</summary>
    public const string Marker = "TINYORT_SEALED";

    /// <summary>Whether this process runs from a sealed copy (or cannot: framework-dependent).</summary>
    public static bool IsSealedOrUnsealable =>
        Environment.GetEnvironmentVariable(Marker) == "1" || Environment.ProcessPath is not { } self
        || File.Exists(Path.ChangeExtension(self, ".dll"));

    /// <summary>
    /// Replaces this process with a sealed copy of its binary run with <paramref name="args"/> (same environment plus
    /// <see cref="Marker"/>); returns only when that is not needed. Call before any other thread matters: execve
    /// ends them.
    /// </summary>
    public static void IfNeeded(string[] args)
    {
        if (IsSealedOrUnsealable) return;
        var self = Environment.ProcessPath!;
        int fd = SealedExecutable.Open(self);
        var argv = new List<string>(args.Length + 1) { Path.GetFileName(self) };
        argv.AddRange(args);
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && k != Marker) env.Add(k + "=" + e.Value);
        env.Add(Marker + "=1");
        var mem = new List<nint>();
        try
        {
            Fexecve(fd, Strings(argv, mem), Strings(env, mem)); // returns only on failure
            throw Error("re-executing the runtime from its sealed copy", self);
        }
        finally
        {
            SysClose(fd);
            foreach (var p in mem) NativeMemory.Free((void*)p);
        }
    }

    private static byte** Strings(List<string> list, List<nint> mem)
    {
        var arr = (byte**)NativeMemory.AllocZeroed((nuint)(list.Count + 1), (nuint)sizeof(nint));
        mem.Add((nint)arr);
        for (int i = 0; i < list.Count; i++)
        {
            var b = Encoding.UTF8.GetBytes(list[i]);
            var p = (byte*)NativeMemory.Alloc((nuint)b.Length + 1);
            mem.Add((nint)p);
            b.CopyTo(new Span<byte>(p, b.Length));
            p[b.Length] = 0;
            arr[i] = p;
        }
        return arr;
    }
}
