using System.Net;
using System.Text;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Rootfs;

/// <summary>
/// The three files docker gives every container — <c>/etc/hosts</c>, <c>/etc/hostname</c>, <c>/etc/resolv.conf</c> —
/// written per container into its state directory (<c>ROOT/containers/ID/</c>) and bind-mounted over the image's,
/// so the image layers stay untouched and the files go away with <c>rm</c>.
/// </summary>
/// <remarks>
/// <para><c>hosts</c>: the loopback names docker writes, plus the container's hostname on 127.0.1.1 (a container
/// on <c>--network none</c> has only loopback; 127.0.1.1 is what Debian uses for the host's own name and is local
/// in every network namespace). With <c>--network host</c> the host's <c>/etc/hosts</c> is copied instead, as docker
/// does, with the hostname line added.</para>
/// <para><c>resolv.conf</c>: the host's. In a network namespace of its own the container cannot reach a loopback
/// resolver of the host (systemd-resolved's 127.0.0.53, a local dnsmasq): like docker, such nameservers are removed —
/// first trying systemd-resolved's upstream list in <c>/run/systemd/resolve/resolv.conf</c> — and when none remains
/// docker's defaults (8.8.8.8, 8.8.4.4 and their IPv6 twins) are used. Search and options lines are kept.</para>
/// </remarks>
public static class EtcFiles
{
    /// <summary>File names inside the container's state directory.</summary>
    public const string Hosts = "hosts", Hostname = "hostname", ResolvConf = "resolv.conf";

    /// <summary>docker's fallback nameservers when the host has only loopback ones.</summary>
    public static readonly string[] DefaultNameservers = ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"];

    /// <summary>
    /// Writes the files into <paramref name="dir"/> and appends their bind mounts to <paramref name="spec"/>'s
    /// mounts. <paramref name="hostNetwork"/>: the container shares the host's network namespace.
    /// <paramref name="dns"/> (not empty): the only nameservers of its resolv.conf (a cluster's responder);
    /// <paramref name="hostAddress"/>: what its hostname maps to (its cluster address; default 127.0.1.1).
    /// </summary>
    /// <remarks><paramref name="resolvConfOf"/>: another container's state directory whose <c>resolv.conf</c> this
    /// one takes as it is (a duplicate's source: same network mode, same name servers — the host's files are then not
    /// read and parsed again); used only without <paramref name="dns"/>, and when that file cannot be read the host's
    /// are used as for any container.</remarks>
    public static void Write(string dir, Spec spec, string hostname, bool hostNetwork, IReadOnlyList<string>? dns = null, string? hostAddress = null,
        string? resolvConfOf = null)
    {
        foreach (var a in (dns ?? []).Append(hostAddress ?? "127.0.1.1"))
            if (!IPAddress.TryParse(a, out _)) throw new RtException($"invalid address \"{a}\" for the container's /etc files: not an IP address");
        WriteFile(Path.Combine(dir, Hostname), hostname + "\n");
        WriteFile(Path.Combine(dir, Hosts), HostsFor(hostname, hostNetwork ? TryRead("/etc/hosts") : null, hostAddress));
        WriteFile(Path.Combine(dir, ResolvConf), dns is { Count: > 0 }
            ? string.Concat(dns.Select(d => "nameserver " + d + "\n"))
            : (resolvConfOf is null ? null : TryRead(Path.Combine(resolvConfOf, ResolvConf)))
              ?? ResolvConfFor(TryRead("/etc/resolv.conf"), hostNetwork, TryRead("/run/systemd/resolve/resolv.conf")));
        spec.Mounts ??= [];
        foreach (var name in new[] { Hosts, Hostname, ResolvConf })
            spec.Mounts.Add(new SpecMount
            {
                Destination = "/etc/" + name, Type = "bind", Source = Path.Combine(dir, name),
                Options = ["rbind", "rprivate"],
            });
    }

    /// <summary>The container's <c>/etc/hosts</c>; <paramref name="hostHosts"/> is the host's file for host networking.</summary>
    public static string HostsFor(string hostname, string? hostHosts, string? hostAddress = null)
    {
        var sb = new StringBuilder();
        if (hostHosts is not null)
        {
            sb.Append(hostHosts);
            if (hostHosts.Length > 0 && hostHosts[^1] != '\n') sb.Append('\n');
        }
        else
        {
            sb.Append("127.0.0.1\tlocalhost\n");
            sb.Append("::1\tlocalhost ip6-localhost ip6-loopback\n");
            sb.Append("fe00::0\tip6-localnet\n");
            sb.Append("ff00::0\tip6-mcastprefix\n");
            sb.Append("ff02::1\tip6-allnodes\n");
            sb.Append("ff02::2\tip6-allrouters\n");
        }
        sb.Append(hostAddress ?? "127.0.1.1").Append('\t').Append(hostname).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// The container's <c>resolv.conf</c> from the host's (<paramref name="host"/>, null when it has none). Outside
    /// the host's network namespace loopback nameservers are dropped (see the remarks of <see cref="EtcFiles"/>).
    /// </summary>
    public static string ResolvConfFor(string? host, bool hostNetwork, string? systemdResolved = null)
    {
        host ??= "";
        if (hostNetwork) return host.Length == 0 || host[^1] == '\n' ? host : host + "\n";
        // systemd-resolved's stub: its upstream servers are in the file it maintains for exactly this purpose.
        if (systemdResolved is not null && Nameservers(host).Count > 0 && Nameservers(host).TrueForAll(IsLoopback))
            host = systemdResolved;
        var sb = new StringBuilder();
        int kept = 0;
        foreach (var raw in host.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (NameserverOf(line) is { } ns)
            {
                if (IsLoopback(ns)) continue;
                kept++;
            }
            sb.Append(line).Append('\n');
        }
        var text = sb.ToString().TrimEnd('\n');
        sb.Clear().Append(text);
        if (text.Length > 0) sb.Append('\n');
        if (kept == 0)
            foreach (var ns in DefaultNameservers) sb.Append("nameserver ").Append(ns).Append('\n');
        return sb.ToString();
    }

    private static List<string> Nameservers(string text)
    {
        var l = new List<string>();
        foreach (var line in text.Split('\n')) if (NameserverOf(line.TrimEnd('\r')) is { } ns) l.Add(ns);
        return l;
    }

    private static string? NameserverOf(string line)
    {
        var t = line.Trim();
        if (!t.StartsWith("nameserver", StringComparison.Ordinal) || t.Length == 10 || !char.IsWhiteSpace(t[10])) return null;
        var rest = t[10..].Trim();
        int end = rest.IndexOfAny([' ', '\t', '#', ';']);
        return end < 0 ? rest : rest[..end];
    }

    private static bool IsLoopback(string ns)
    {
        var addr = ns;
        int pct = addr.IndexOf('%'); // fe80::1%eth0
        if (pct >= 0) addr = addr[..pct];
        return IPAddress.TryParse(addr, out var ip) && IPAddress.IsLoopback(ip);
    }

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>One open, write, fchmod and close (a start writes three of these; the stream API took twice the
    /// syscalls and a managed file handle each).</summary>
    private static void WriteFile(string path, string content)
    {
        int fd = Linux.Libc.SysOpen(path, Linux.Libc.OFlag.WrOnly | Linux.Libc.OFlag.Creat | Linux.Libc.OFlag.Trunc | Linux.Libc.OFlag.Cloexec, 0x1A4);
        if (fd < 0) throw Linux.Libc.Error("writing", path);
        try
        {
            if (!Linux.Libc.SysWriteAll(fd, Encoding.UTF8.GetBytes(content))) throw Linux.Libc.Error("writing", path);
            // Readable by the container's user whatever our umask; writable by its root, as docker's.
            if (Linux.Libc.Fchmod(fd, 0x1A4 /* 0644 */) != 0) throw Linux.Libc.Error("chmod", path);
        }
        finally { Linux.Libc.SysClose(fd); }
    }
}
