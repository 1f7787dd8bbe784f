using System.Globalization;

namespace Tinyo.Rt.Containers;

/// <summary>What <c>tinyort run IMAGE</c> was asked for; the image config fills in what is not given.</summary>
public sealed class RunOptions
{
    /// <summary>Image name or id.</summary>
    public string Image { get; set; } = "";
    /// <summary>Arguments after the image: they replace the image's Cmd (Entrypoint stays, as in docker).</summary>
    public List<string> Command { get; set; } = [];
    /// <summary><c>--entrypoint</c>: replaces the image's Entrypoint (and drops its Cmd); empty string clears it.</summary>
    public string? Entrypoint { get; set; }
    /// <summary><c>--name</c>; default a generated one.</summary>
    public string? Name { get; set; }
    /// <summary><c>-e K=V</c> (or <c>-e K</c>: taken from the caller's environment).</summary>
    public List<string> Env { get; set; } = [];
    /// <summary>Bind mounts (<c>-v SRC:DST[:ro]</c>, parsed by <see cref="BindMount.Parse"/>; an orchestrator builds them directly).</summary>
    public List<BindMount> Volumes { get; set; } = [];
    /// <summary>Host directories no mount source may be in, contain or lead into (an embedding node's state and
    /// socket directories); see <see cref="MountSource.Ensure"/>.</summary>
    public List<string> ForbiddenMountSources { get; set; } = [];
    /// <summary><c>--memory</c> in bytes.</summary>
    public long? Memory { get; set; }
    /// <summary><c>--cpus</c>.</summary>
    public double? Cpus { get; set; }
    /// <summary><c>--pids</c>.</summary>
    public long? Pids { get; set; }
    /// <summary><c>--hostname</c>; default the first 12 characters of the id, as docker.</summary>
    public string? Hostname { get; set; }
    /// <summary><c>-w</c>.</summary>
    public string? WorkingDir { get; set; }
    /// <summary><c>-u USER[:GROUP]</c> (names or numbers).</summary>
    public string? User { get; set; }
    /// <summary><c>--network none|host|ns:PATH</c>: loopback only, the host's, or the network namespace mounted on
    /// PATH (joined by path, as podman's <c>ns:</c>; an orchestrator prepares it with an address before the start).</summary>
    public string Network { get; set; } = "none";
    /// <summary><c>--dns</c>: the container's nameservers (its resolv.conf has only these); empty: from the host's.</summary>
    public List<string> Dns { get; set; } = [];
    /// <summary>The address the container's own hostname maps to in its /etc/hosts (default 127.0.1.1): its address
    /// on a network the orchestrator prepared.</summary>
    public string? HostAddress { get; set; }
    /// <summary><c>-d</c>: stdout/stderr go to the container's log file.</summary>
    public bool Detach { get; set; }
    /// <summary><c>--memory-merge</c>: the process opts into kernel same-page merging (KSM; Linux ≥ 6.4).</summary>
    public bool MemoryMerge { get; set; }
    /// <summary>A cgroup v2 directory the process is born in besides its own cgroups (an orchestrator's per-cluster
    /// directory, see <see cref="Cgroups.ClusterCgroup"/>); recorded in the spec, so restarts and duplicates keep it.</summary>
    public string? ClusterCgroup { get; set; }
    /// <summary>A detached container's stdin instead of /dev/null (an orchestrator's pipe end; the caller keeps it
    /// open and closes it: the container gets a duplicate).</summary>
    public int? StdinFd { get; set; }
    /// <summary>A detached container's stdout instead of its log (its stderr still goes to the log).</summary>
    public int? StdoutFd { get; set; }
    /// <summary><c>--rm</c>: remove the container when it exits.</summary>
    public bool Remove { get; set; }
    /// <summary>Extra annotations recorded in the spec and the container's state (an embedding orchestrator labels
    /// its containers with them, e.g. the app and a hash of its spec).</summary>
    public Dictionary<string, string> Annotations { get; set; } = [];
    /// <summary><c>-t</c>: the process gets a pseudo-terminal (<c>process.terminal</c>); foreground only.</summary>
    public bool Tty { get; set; }
    /// <summary><c>--userns HOSTUID:COUNT</c>: a new user namespace mapping container uids and gids 0..COUNT-1 to
    /// host HOSTUID..HOSTUID+COUNT-1 (see <see cref="ParseUserNs"/>); null: no user namespace.</summary>
    public UserNsMapping? UserNs { get; set; }

    /// <summary>Parses docker's memory sizes: a number with an optional b, k, m or g suffix (1024-based).</summary>
    public static long ParseMemory(string s)
    {
        var t = s.Trim().ToLowerInvariant();
        long mul = 1;
        if (t.Length > 0 && t[^1] is 'b' or 'k' or 'm' or 'g')
        {
            mul = t[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1 };
            t = t[..^1];
        }
        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > long.MaxValue / mul)
            throw new RtException($"invalid --memory \"{s}\": expected a size such as 64m, 512k or 1g");
        if (n * mul < 6 << 20) throw new RtException($"invalid --memory \"{s}\": the minimum is 6m");
        return n * mul;
    }

    /// <summary>Parses <c>--userns HOSTUID:COUNT</c>. The host range must not start at 0 (root inside would be root
    /// outside) and must end below 4294967295 (the kernel's invalid id).</summary>
    public static UserNsMapping ParseUserNs(string s)
    {
        var parts = s.Split(':');
        if (parts.Length != 2
            || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var host)
            || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            throw new RtException($"invalid --userns \"{s}\": expected HOSTUID:COUNT, such as 100000:65536");
        if (count == 0) throw new RtException($"invalid --userns \"{s}\": COUNT must be at least 1");
        if (host == 0) throw new RtException($"invalid --userns \"{s}\": HOSTUID 0 would map root inside to root outside");
        if ((ulong)host + count > uint.MaxValue)
            throw new RtException($"invalid --userns \"{s}\": HOSTUID+COUNT exceeds the largest id (4294967294)");
        return new UserNsMapping(host, count);
    }

    /// <summary>Parses <c>--cpus</c>: a positive decimal.</summary>
    public static double ParseCpus(string s)
    {
        if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var c) || c <= 0 || c > 1024)
            throw new RtException($"invalid --cpus \"{s}\": expected a positive number such as 0.5");
        return c;
    }
}

/// <summary>An image container's user namespace: container ids 0..<paramref name="Count"/>-1 (uids and gids alike)
/// are host ids <paramref name="HostId"/>.. .</summary>
/// <param name="HostId">First host id of the range.</param>
/// <param name="Count">Number of ids mapped.</param>
public sealed record UserNsMapping(uint HostId, uint Count);
