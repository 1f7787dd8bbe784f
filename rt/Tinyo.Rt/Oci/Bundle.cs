using System.Text.Json;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Oci;

/// <summary>
/// An OCI bundle: a directory with <c>config.json</c> and a root filesystem. <see cref="Load"/> parses and validates
/// everything that can be checked before a process exists, so bad input fails with one clear message and leaves
/// nothing behind.
/// </summary>
public sealed class Bundle
{
    /// <summary>The namespace types tinyort knows, with their clone flags.</summary>
    internal static readonly (string Type, int Flag)[] NamespaceTypes =
    [
        ("mount", Linux.Libc.CLONE_NEWNS), ("pid", Linux.Libc.CLONE_NEWPID), ("network", Linux.Libc.CLONE_NEWNET),
        ("ipc", Linux.Libc.CLONE_NEWIPC), ("uts", Linux.Libc.CLONE_NEWUTS), ("cgroup", Linux.Libc.CLONE_NEWCGROUP),
        ("user", Linux.Libc.CLONE_NEWUSER),
    ];

    private Bundle(string dir, Spec spec, string rootfs, List<string> warnings, SeccompCompiler.Result? seccomp)
    { Directory = dir; Spec = spec; Rootfs = rootfs; Warnings = warnings; Seccomp = seccomp; }

    /// <summary>Absolute bundle directory.</summary>
    public string Directory { get; }
    /// <summary>The parsed, validated configuration.</summary>
    public Spec Spec { get; }
    /// <summary>Absolute root filesystem directory.</summary>
    public string Rootfs { get; }
    /// <summary>The compiled <c>linux.seccomp</c> filter, or null when the spec has none.</summary>
    public SeccompCompiler.Result? Seccomp { get; }
    /// <summary>Things the spec asks for that tinyort recognises but does not enforce yet.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Loads <c>DIR/config.json</c>.</summary>
    public static Bundle Load(string dir)
    {
        if (string.IsNullOrEmpty(dir)) throw new RtException("bundle directory is empty");
        dir = Path.GetFullPath(dir);
        if (!System.IO.Directory.Exists(dir)) throw new RtException($"bundle {dir}: no such directory");
        var cfg = Path.Combine(dir, "config.json");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(cfg); }
        catch (FileNotFoundException) { throw new RtException($"bundle {dir}: config.json not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new RtException($"bundle {dir}: cannot read config.json: {e.Message}"); }
        return FromSpec(dir, Parse(bytes, $"bundle {dir}: config.json"));
    }

    /// <summary>Parses a config.json document; an error names the file and the JSON problem.</summary>
    public static Spec Parse(ReadOnlySpan<byte> json, string name = "config.json")
    {
        try
        {
            return SpecReader.Read(json);
        }
        catch (JsonException e) { throw new RtException($"{name}: invalid JSON: {e.Message}"); }
        catch (InvalidOperationException e) { throw new RtException($"{name}: invalid JSON: {e.Message}"); } // e.g. GetString on a number
    }

    private static readonly Dictionary<string, SeccompCompiler.Result> s_compiled = [];

    /// <summary>
    /// <see cref="SeccompCompiler.Compile(JsonElement)"/> once per distinct profile text: a node starts many containers with the
    /// same profile (every replica of an app, every app with the default one), and compiling Docker's profile to BPF
    /// is a large part of an in-process start. The result is read-only (the program is copied into each start's
    /// syscall rows or init message), so one serves every container.
    /// </summary>
    private static SeccompCompiler.Result CompileCached(JsonElement profile)
    {
        var key = profile.GetRawText();
        lock (s_compiled)
            if (s_compiled.TryGetValue(key, out var hit)) return hit;
        var r = SeccompCompiler.Compile(profile);
        lock (s_compiled)
        {
            if (s_compiled.Count >= 16) s_compiled.Clear(); // a handful of profiles in practice; never unbounded
            s_compiled[key] = r;
        }
        return r;
    }

    /// <summary>Validates <paramref name="spec"/> for a bundle in <paramref name="dir"/>.</summary>
    public static Bundle FromSpec(string dir, Spec spec) => FromSpec(dir, spec, null);

    /// <summary>Validates <paramref name="spec"/> for a bundle in <paramref name="dir"/>, reusing
    /// <paramref name="compiledSeccomp"/> (the same <c>linux.seccomp</c> compiled once for another container: a
    /// duplicate's) instead of compiling the profile again.</summary>
    internal static Bundle FromSpec(string dir, Spec spec, SeccompCompiler.Result? compiledSeccomp)
    {
        var warnings = new List<string>();
        string where = $"bundle {dir}: config.json";
        if (spec.Root is null || string.IsNullOrEmpty(spec.Root.Path)) throw new RtException($"{where}: root.path is missing");
        var rootfs = Path.GetFullPath(spec.Root.Path, dir);
        if (!System.IO.Directory.Exists(rootfs)) throw new RtException($"{where}: root filesystem {rootfs} does not exist");
        var p = spec.Process ?? throw new RtException($"{where}: process is missing");
        if (p.Args is null || p.Args.Count == 0 || string.IsNullOrEmpty(p.Args[0])) throw new RtException($"{where}: process.args is empty");
        if (string.IsNullOrEmpty(p.Cwd)) p.Cwd = "/";
        if (!p.Cwd.StartsWith('/')) throw new RtException($"{where}: process.cwd \"{p.Cwd}\" is not absolute");
        CapabilitySets.FromSpec(p.Capabilities);
        if (p.Rlimits is not null) foreach (var r in p.Rlimits) Rlimits.Number(r.Type);
        if (p.Env is not null) foreach (var e in p.Env) if (e.Contains('\0')) throw new RtException($"{where}: process.env has a NUL byte");
        foreach (var a in p.Args) if (a.Contains('\0')) throw new RtException($"{where}: process.args has a NUL byte");
        if (!string.IsNullOrEmpty(p.ApparmorProfile)) warnings.Add("process.apparmorProfile is ignored");

        var linux = spec.Linux ?? throw new RtException($"{where}: linux is missing");
        var seen = new HashSet<string>();
        foreach (var ns in linux.Namespaces ?? [])
        {
            if (Array.FindIndex(NamespaceTypes, t => t.Type == ns.Type) < 0) throw new RtException($"{where}: unknown namespace type \"{ns.Type}\"");
            if (!seen.Add(ns.Type)) throw new RtException($"{where}: namespace \"{ns.Type}\" is listed twice");
            if (ns.Type == "user")
            {
                if (!string.IsNullOrEmpty(ns.Path)) throw new RtException($"{where}: joining an existing user namespace is not supported yet");
                if (linux.UidMappings is not { Count: > 0 } || linux.GidMappings is not { Count: > 0 })
                    throw new RtException($"{where}: a user namespace needs linux.uidMappings and linux.gidMappings");
                foreach (var m in linux.UidMappings.Concat(linux.GidMappings))
                    if (m.Size == 0 || (ulong)m.ContainerID + m.Size > uint.MaxValue || (ulong)m.HostID + m.Size > uint.MaxValue)
                        throw new RtException($"{where}: invalid id mapping {m.ContainerID} {m.HostID} {m.Size}");
                if (linux.UidMappings.Count > 340 || linux.GidMappings.Count > 340) throw new RtException($"{where}: more than 340 id mappings");
            }
            if (!string.IsNullOrEmpty(ns.Path) && !File.Exists(ns.Path)) throw new RtException($"{where}: namespace path {ns.Path} does not exist");
        }
        if (!seen.Contains("mount"))
        {
            // The spec allows sharing the runtime's mount namespace: the process is chroot'ed into the rootfs and
            // nothing is mounted (it would land in the host's mount table).
            if (spec.Mounts is { Count: > 0 } || linux.MaskedPaths is { Count: > 0 } || linux.ReadonlyPaths is { Count: > 0 }
                || spec.Root.Readonly || linux.Devices is { Count: > 0 })
                warnings.Add("no mount namespace: mounts, devices, masked and read-only paths and root.readonly are not applied (they would change the host's mount table)");
        }
        if (!string.IsNullOrEmpty(spec.Hostname) && !seen.Contains("uts")) throw new RtException($"{where}: hostname needs a uts namespace");
        if ((linux.UidMappings is { Count: > 0 } || linux.GidMappings is { Count: > 0 }) && !seen.Contains("user"))
            throw new RtException($"{where}: uid/gid mappings need a user namespace in linux.namespaces");
        SeccompCompiler.Result? seccomp = compiledSeccomp;
        if (seccomp is null && linux.Seccomp is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } sc)
        {
            // Compiled here, in the parent, so a bad profile fails before anything exists and init only loads it.
            try { seccomp = CompileCached(sc); }
            catch (RtException e) { throw new RtException($"{where}: {e.Message}"); }
        }
        Hooks.Validate(spec.Hooks, where);
        switch (linux.RootfsPropagation)
        {
            case null or "" or "private" or "rprivate" or "slave" or "rslave" or "shared" or "rshared" or "unbindable" or "runbindable": break;
            default: throw new RtException($"{where}: unknown linux.rootfsPropagation \"{linux.RootfsPropagation}\"");
        }
        foreach (var s in linux.Sysctl?.Keys ?? (IEnumerable<string>)[])
        {
            if (s.Length == 0 || s.Contains('/') || s.Contains("..") || s.StartsWith('.')) throw new RtException($"{where}: invalid sysctl name \"{s}\"");
            // Only parameters scoped to a namespace the container owns: anything else would change the host.
            bool ok = s.StartsWith("net.") ? NewNamespace(linux, "network")
                : s is "kernel.msgmax" or "kernel.msgmnb" or "kernel.msgmni" or "kernel.sem" or "kernel.shmall" or "kernel.shmmax"
                    or "kernel.shmmni" or "kernel.shm_rmid_forced" || s.StartsWith("fs.mqueue.") ? NewNamespace(linux, "ipc")
                : s is "kernel.hostname" or "kernel.domainname" && NewNamespace(linux, "uts");
            if (!ok) throw new RtException($"{where}: sysctl \"{s}\" is not namespaced by the container (it would change the host)");
        }
        if (spec.Hostname?.Length > 64) throw new RtException($"{where}: hostname is longer than 64 bytes");
        foreach (var d in linux.Devices ?? [])
        {
            if (!d.Path.StartsWith("/dev/")) throw new RtException($"{where}: device path {d.Path} is not under /dev");
            if (d.Type is not ("c" or "b" or "u" or "p")) throw new RtException($"{where}: device {d.Path} has unknown type \"{d.Type}\"");
        }
        foreach (var m in spec.Mounts ?? [])
        {
            if (string.IsNullOrEmpty(m.Destination)) throw new RtException($"{where}: a mount has no destination");
            if (m.Destination.Contains('\0')) throw new RtException($"{where}: mount destination has a NUL byte");
            if (!m.Destination.StartsWith('/')) m.Destination = "/" + m.Destination;
            var opts = Tinyo.Rt.Rootfs.MountOptions.Parse(m.Options);
            bool bind = m.Type is null or "" or "bind" || opts.Bind;
            if (bind)
            {
                if (string.IsNullOrEmpty(m.Source)) throw new RtException($"{where}: bind mount on {m.Destination} has no source");
                m.Source = Path.GetFullPath(m.Source, dir);
                if (!Path.Exists(m.Source)) throw new RtException($"{where}: bind mount source {m.Source} does not exist");
            }
            else if (m.Type is not ("proc" or "sysfs" or "tmpfs" or "devpts" or "mqueue" or "cgroup" or "cgroup2" or "overlay" or "ramfs"))
                throw new RtException($"{where}: mount type \"{m.Type}\" on {m.Destination} is not supported");
        }
        Cgroups.CgroupPath.Validate(linux.CgroupsPath);
        return new Bundle(dir, spec, rootfs, warnings, seccomp);
    }

    /// <summary>Whether the container has a <paramref name="type"/> namespace of its own: a new one, or one it joins
    /// by path that is not ours (podman and CNI create the network namespace first and pass its path).</summary>
    private static bool NewNamespace(SpecLinux l, string type) =>
        l.Namespaces?.Exists(n => n.Type == type && (string.IsNullOrEmpty(n.Path) || !SameNamespace(n.Path, type))) == true;

    private static bool SameNamespace(string path, string type)
    {
        string proc = type switch { "network" => "net", "mount" => "mnt", _ => type };
        // Namespaces are identified by the nsfs inode (and device) a namespace file or bind mount of it has.
        static (ulong, uint, uint)? Id(string p) =>
            Linux.Libc.StatxAt(Linux.Libc.AT_FDCWD_, System.Text.Encoding.UTF8.GetBytes(p + "\0"), 0, out var st) == 0
                ? (st.Ino, st.DevMajor, st.DevMinor) : null;
        var a = Id(path);
        return a is null || a == Id("/proc/self/ns/" + proc);
    }

    /// <summary>Validates a container id: letters, digits and <c>_ . + -</c>, not starting with a dot, at most 1024.</summary>
    public static void ValidateId(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new RtException("container id is empty");
        if (id.Length > 1024) throw new RtException("container id is longer than 1024 characters");
        if (id[0] == '.' || id[0] == '-') throw new RtException($"invalid container id \"{id}\": must not start with '.' or '-'");
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '+' or '-'))
                throw new RtException($"invalid container id \"{id}\": only letters, digits and _ . + - are allowed");
    }
}
