using System.Diagnostics;
using System.Globalization;
using Tinyo.Linux;
using Tinyo.Rt.Network;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// The last line of a test node's clean-up, for when `tio down` did not finish (a node killed after its grace, a test
/// that SIGKILLs daemons on purpose): kills the daemons and everything they started, unmounts what is mounted under
/// the test's directory (the replicas' network namespace files — while one is mounted its namespace, veth and all,
/// lives on), and deletes the node's nft table and cluster bridges. Processes are killed by pid, and only those that
/// are the named daemons or their descendants (the node is a child subreaper: its containers stay its descendants).
/// Whatever it had to remove is written to stderr, so a leak of the product shows in the test log instead of on the
/// host.
/// </summary>
internal static class HostSweep
{
    /// <summary>
    /// SIGKILLs <paramref name="daemons"/> and their descendants, unmounts every mount under <paramref name="dir"/>,
    /// and, in the network namespace <paramref name="netns"/> (null: this one), deletes the nft table and the bridges
    /// of <paramref name="clusters"/> of the node whose root is <paramref name="root"/>. Returns what it removed.
    /// </summary>
    public static List<string> Sweep(string dir, IEnumerable<int> daemons, string? root = null, string? netns = null, IEnumerable<string>? clusters = null)
    {
        var removed = new List<string>();
        // Ours: the daemons, their descendants, and whatever runs in a network namespace mounted under dir or in the
        // test's own namespace (a replica orphaned by a node killed earlier in the test is no one's descendant).
        var tree = Descendants(daemons);
        var nets = NetnsInodes(dir, netns);
        foreach (var pid in InNamespaces(nets))
        {
            if (!tree.Contains(pid)) tree.Add(pid);
        }
        foreach (var pid in tree)
        {
            if (Libc.Kill(pid, 9) == 0) removed.Add($"process {pid}");
        }
        foreach (var pid in tree) WaitGone(pid, TimeSpan.FromSeconds(5));
        foreach (var m in MountsUnder(dir))
        {
            if (Libc.Umount2(m, Libc.MNT_DETACH) == 0) removed.Add($"mount {m}");
        }
        if (root is not null)
        {
            // The product's own clean-up of a killed node first (networks, and the clusters' cgroup2 directories that
            // live outside any namespace the test deletes); what it misses, the lines below remove and name.
            var clean = Binaries.Start("tinyonode");
            var (code, output) = Tool(netns, clean.FileName, [.. clean.ArgumentList, "clean", "--root", root]);
            if (code != 0) Console.Error.WriteLine($"HostSweep {dir}: tinyonode clean failed ({code}): {output}");
            else if (!output.Contains("nothing left", StringComparison.Ordinal)) removed.Add("tinyonode clean: " + output.Trim().Replace('\n', ';'));
            var id = Path.GetFullPath(Path.Combine(root, "net"));
            var table = "tinyo_" + VethName.For(id)[2..10];
            if (Ip(netns, "nft", "delete", "table", "inet", table) == 0) removed.Add($"nft table {table}");
            foreach (var c in clusters ?? [])
            {
                var bridge = "tb" + VethName.For(id + "\0" + c)[2..];
                if (Ip(netns, "ip", "link", "del", bridge) == 0) removed.Add($"bridge {bridge} ({c})");
            }
        }
        if (removed.Count > 0) Console.Error.WriteLine($"HostSweep {dir}: removed what the node left: {string.Join(", ", removed)}");
        return removed;
    }

    /// <summary>The pids given (those alive) and all their descendants, parents first.</summary>
    private static List<int> Descendants(IEnumerable<int> roots)
    {
        var parent = new Dictionary<int, int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses: parse after the last ')'.
                var stat = File.ReadAllText(Path.Combine(d, "stat"));
                var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parent[pid] = int.Parse(rest[1], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                // gone meanwhile
            }
        }
        var result = new List<int>();
        var queue = new Queue<int>(roots.Where(parent.ContainsKey));
        var seen = new HashSet<int>();
        while (queue.TryDequeue(out int p))
        {
            if (!seen.Add(p)) continue;
            result.Add(p);
            foreach (var (child, pp) in parent)
            {
                if (pp == p) queue.Enqueue(child);
            }
        }
        return result;
    }

    /// <summary>Inodes of the network namespaces mounted under <paramref name="dir"/> (and of <paramref name="extra"/>).</summary>
    private static HashSet<ulong> NetnsInodes(string dir, string? extra)
    {
        var set = new HashSet<ulong>();
        var files = MountsUnder(dir, "nsfs");
        if (extra is not null) files.Add(extra);
        foreach (var f in files)
        {
            if (Ino(f) is { } n) set.Add(n);
        }
        return set;
    }

    /// <summary>Processes whose network namespace is one of <paramref name="inodes"/> (never this process).</summary>
    private static List<int> InNamespaces(HashSet<ulong> inodes)
    {
        var list = new List<int>();
        if (inodes.Count == 0) return list;
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid) || pid == Environment.ProcessId) continue;
            try
            {
                if (Ino(Path.Combine(d, "ns", "net")) is { } n && inodes.Contains(n)) list.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // gone, or a kernel thread
            }
        }
        return list;
    }

    /// <summary>The inode of <paramref name="path"/> (followed): for a namespace file, the namespace's id.</summary>
    private static ulong? Ino(string path)
        => Libc.StatxAt(Libc.FileSys.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(path + "\0"), 0, out var st) == 0 ? st.Ino : null;

    private static void WaitGone(int pid, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && sw.Elapsed < limit)
        {
            // A zombie child of ours would stay: the daemons are not our children (tio started them detached).
            var state = "";
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                state = stat[(stat.LastIndexOf(')') + 2)..][..1];
            }
            catch (IOException)
            {
                return;
            }
            if (state == "Z") return;
            Thread.Sleep(20);
        }
    }

    /// <summary>Mount points under <paramref name="dir"/> (deepest first), from /proc/self/mountinfo.</summary>
    internal static List<string> MountsUnder(string dir, string? type = null)
    {
        var prefix = Path.GetFullPath(dir).TrimEnd('/') + "/";
        var list = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            if (f.Length < 5) continue;
            var point = Unescape(f[4]);
            int dash = Array.IndexOf(f, "-", 6);
            if (type is not null && (dash < 0 || dash + 1 >= f.Length || f[dash + 1] != type)) continue;
            if (point.StartsWith(prefix, StringComparison.Ordinal)) list.Add(point);
        }
        list.Sort((a, b) => string.CompareOrdinal(b, a));
        return list;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && char.IsAsciiDigit(s[i + 1]))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    /// <summary>Runs a tool (quietly) in <paramref name="netns"/>; its exit code.</summary>
    private static int Ip(string? netns, string tool, params string[] args) => Tool(netns, tool, args).Code;

    /// <summary>Runs a tool in <paramref name="netns"/>; its exit code and output (stdout and stderr).</summary>
    private static (int Code, string Output) Tool(string? netns, string tool, string[] args)
    {
        var psi = netns is null ? new ProcessStartInfo(tool) : new ProcessStartInfo("nsenter");
        if (netns is not null)
        {
            psi.ArgumentList.Add("--net=" + netns);
            psi.ArgumentList.Add(tool);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var o = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, o + err.Result);
    }
}
