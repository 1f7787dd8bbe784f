using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tinyo.Rt.Images;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Rootfs;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// What tinyort remembers of a container made from an image, in <c>ROOT/containers/ID/image.json</c> next to the
/// OCI <c>state.json</c>: its name, the image it came from and the layers it uses (so <see cref="ImageGc"/> keeps
/// them and <c>rmi</c> refuses to remove the image).
/// </summary>
public sealed class ImageContainerInfo
{
    /// <summary>Container id (12 hex digits).</summary>
    public string Id { get; set; } = "";
    /// <summary>Container name.</summary>
    public string Name { get; set; } = "";
    /// <summary>The image name as stored.</summary>
    public string Image { get; set; } = "";
    /// <summary>Image id (config digest).</summary>
    public string ImageId { get; set; } = "";
    /// <summary>The manifest digest of the image.</summary>
    public string Manifest { get; set; } = "";
    /// <summary>Unpacked layer directory names (diff-id hex), bottom first.</summary>
    public List<string> Layers { get; set; } = [];
    /// <summary>The process's arguments after the merge of Entrypoint, Cmd and the command line.</summary>
    public List<string> Command { get; set; } = [];
    /// <summary>Whether the container is removed when it exits (<c>--rm</c>).</summary>
    public bool AutoRemove { get; set; }
    /// <summary>Whether it was started with <c>-d</c> (its output is in <see cref="ImageContainers.LogFile"/>).</summary>
    public bool Detached { get; set; }
    /// <summary>The name of the container this one was duplicated from (<c>tinyort dup</c>), or null.</summary>
    public string? DuplicatedFrom { get; set; }
    /// <summary>The cap of each of its log files (the relay's; 0: the default), so a monitor that adopts the log
    /// after a restart keeps the same bound.</summary>
    public long LogMaxBytes { get; set; }
}

/// <summary>One row of <c>tinyort ps</c> / what <c>inspect</c> shows of a container.</summary>
public sealed class ContainerSummary
{
    /// <summary>Container id.</summary>
    public string Id { get; set; } = "";
    /// <summary>Name (empty for bundle containers).</summary>
    public string Name { get; set; } = "";
    /// <summary>Image name (empty for bundle containers).</summary>
    public string Image { get; set; } = "";
    /// <summary>Command line.</summary>
    public List<string> Command { get; set; } = [];
    /// <summary><c>created</c>, <c>running</c> or <c>exited</c>.</summary>
    public string Status { get; set; } = "";
    /// <summary>Exit code when known.</summary>
    public int? ExitCode { get; set; }
    /// <summary>Whether an OOM kill ended it, when known.</summary>
    public bool? OomKilled { get; set; }
    /// <summary>Host pid while running.</summary>
    public int Pid { get; set; }
    /// <summary>Creation time (RFC 3339).</summary>
    public string Created { get; set; } = "";
    /// <summary>Bundle (state) directory.</summary>
    public string Bundle { get; set; } = "";
    /// <summary>Image id, for image containers.</summary>
    public string? ImageId { get; set; }
    /// <summary>Layers used, for image containers.</summary>
    public List<string>? Layers { get; set; }
    /// <summary>Log file of a detached container.</summary>
    public string? LogPath { get; set; }
    /// <summary>The container this one was duplicated from, or null.</summary>
    public string? DuplicatedFrom { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageContainerInfo))]
[JsonSerializable(typeof(List<ContainerSummary>))]
internal sealed partial class ContainerJson : JsonSerializerContext;

/// <summary>
/// Docker-like containers over images: <c>run</c> merges the image config with the command line into an OCI spec,
/// makes <c>ROOT/containers/ID/</c> (config.json, image.json, upper/, work/, rootfs/ — the overlay's mount point —
/// and container.log for <c>-d</c>) and hands it to <see cref="ContainerRuntime"/>, whose init mounts the overlay
/// inside the container's mount namespace (<see cref="Overlay"/>). Everything that can be checked is checked before
/// the directory exists; a later failure removes it, the name and the cgroup.
/// </summary>
public sealed class ImageContainers
{
    private readonly ContainerRuntime runtime;

    /// <summary>Image containers over <paramref name="runtime"/> (its root and options: init command, cgroups,
    /// direct start, stdio of foreground runs).</summary>
    public ImageContainers(ContainerRuntime runtime)
    {
        this.runtime = runtime;
        Root = runtime.Root;
    }

    /// <summary>Image containers over a new <see cref="ContainerRuntime"/> of <paramref name="root"/>.</summary>
    public ImageContainers(RuntimeRoot root, RuntimeOptions options) : this(new ContainerRuntime(root, options))
    {
    }

    /// <summary>The runtime root.</summary>
    public RuntimeRoot Root { get; }

    /// <summary>The runtime these containers are launched with.</summary>
    public ContainerRuntime Runtime => runtime;

    internal const string InfoName = "image.json", LogName = "container.log";

    /// <summary>The log file of a container (stdout and stderr of a detached one).</summary>
    public string LogFile(string id) => Path.Combine(Root.Containers, id, LogName);

    /// <summary>A created container and how to wait for it (null <see cref="Launched"/> when detached).</summary>
    public sealed record Started(string Id, string Name, ContainerRuntime.Launched? Launched)
    {
        /// <summary>Host pid of the container's process as started (it may have exited already: a detached
        /// container's status then reads <c>stopped</c>, but its exit is still this pid's to collect).</summary>
        public int Pid { get; init; }
    }

    /// <summary>Builds the spec (merging image and options) for <paramref name="id"/>.</summary>
    public static Spec BuildSpec(RunOptions o, StoredImage img, string id, IReadOnlyList<string> layersTopFirst, out List<string> args)
    {
        var c = img.Config.Config;
        List<string> entry = o.Entrypoint is { } ep ? (ep.Length == 0 ? [] : [ep]) : [.. c?.Entrypoint ?? []];
        // docker: command-line args replace Cmd; --entrypoint also drops the image's Cmd.
        List<string> cmd = o.Command.Count > 0 ? o.Command : o.Entrypoint is not null ? [] : [.. c?.Cmd ?? []];
        args = [.. entry, .. cmd];
        if (args.Count == 0 || string.IsNullOrEmpty(args[0]))
            throw new RtException($"no command specified: image {img.Record.Name} has no Cmd or Entrypoint and none was given");

        var hostname = o.Hostname ?? id[..Math.Min(12, id.Length)];
        if (hostname.Length > 64 || hostname.Length == 0 || hostname.AsSpan().IndexOfAny("/\0 ") >= 0)
            throw new RtException($"invalid --hostname \"{hostname}\"");
        var spec = DefaultSpec.Create(args, hostname);
        var p = spec.Process!;

        // Env: image first, then -e, later keys replacing earlier ones; PATH defaults as docker's.
        var env = new List<string>();
        void Set(string kv)
        {
            if (kv.Contains('\0')) throw new RtException("environment variables must not contain NUL bytes");
            int eq = kv.IndexOf('=');
            if (eq <= 0) throw new RtException($"invalid environment variable \"{kv}\": expected KEY=VALUE");
            var key = kv[..(eq + 1)];
            env.RemoveAll(e => e.StartsWith(key, StringComparison.Ordinal));
            env.Add(kv);
        }
        Set("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        Set("HOSTNAME=" + hostname);
        foreach (var e in c?.Env ?? []) Set(e);
        foreach (var e in o.Env)
        {
            if (!e.Contains('=')) { if (Environment.GetEnvironmentVariable(e) is { } v) Set(e + "=" + v); continue; }
            Set(e);
        }
        p.Env = env;

        if (o.Tty && o.Detach) throw new RtException("-t with -d is not supported yet (there is no attach): run -t in the foreground");
        p.Terminal = o.Tty;
        // docker: a tty container gets TERM=xterm unless the image or -e says otherwise.
        if (o.Tty && !env.Exists(e => e.StartsWith("TERM=", StringComparison.Ordinal))) env.Add("TERM=xterm");

        var cwd = o.WorkingDir ?? (string.IsNullOrEmpty(c?.WorkingDir) ? "/" : c!.WorkingDir!);
        if (!cwd.StartsWith('/') || cwd.Contains('\0')) throw new RtException($"working directory \"{cwd}\" is not an absolute path");
        p.Cwd = cwd;

        var (uid, gid, groups, home) = UserDb.ResolveWithHome(o.User ?? c?.User, layersTopFirst);
        // docker (runc's setupUser): HOME from the user's passwd entry unless the image or -e set it.
        if (!env.Exists(e => e.StartsWith("HOME=", StringComparison.Ordinal))) env.Add("HOME=" + home);
        p.User = new SpecUser { Uid = uid, Gid = gid, AdditionalGids = groups.Count > 0 ? groups : null };
        if (uid != 0)
        {
            // docker: a non-root user keeps no effective/permitted capabilities.
            p.Capabilities!.Effective = [];
            p.Capabilities.Permitted = [];
        }

        foreach (var v in o.Volumes) spec.Mounts!.Add(v.ToSpec(o.ForbiddenMountSources));

        var r = spec.Linux!.Resources!;
        if (o.Memory is { } mem) r.Memory = new SpecMemory { Limit = mem, Swap = mem };
        if (o.Cpus is { } cpus) r.Cpu = new SpecCpu { Period = 100000, Quota = (long)Math.Round(cpus * 100000) };
        if (o.Pids is { } pids)
        {
            if (pids <= 0) throw new RtException($"invalid --pids {pids}: must be positive");
            r.Pids = new SpecPids { Limit = pids };
        }
        switch (o.Network)
        {
            case "none": break; // a new network namespace with only loopback
            case "host": spec.Linux.Namespaces!.RemoveAll(n => n.Type == "network"); break;
            case ['n', 's', ':', '/', ..]:
                spec.Linux.Namespaces!.RemoveAll(n => n.Type == "network");
                spec.Linux.Namespaces.Add(new SpecNamespace { Type = "network", Path = o.Network[3..] });
                break;
            default: throw new RtException($"invalid --network \"{o.Network}\": none, host or ns:/PATH (a network namespace's file)");
        }
        if (o.UserNs is { } u)
        {
            // sysfs can only be mounted in a network namespace the user namespace owns, so not with the host's.
            if (o.Network == "host") throw new RtException("--userns with --network host is not supported yet");
            spec.Linux.Namespaces!.Add(new SpecNamespace { Type = "user" });
            spec.Linux.UidMappings = [new SpecIdMapping { ContainerID = 0, HostID = u.HostId, Size = u.Count }];
            spec.Linux.GidMappings = [new SpecIdMapping { ContainerID = 0, HostID = u.HostId, Size = u.Count }];
        }
        spec.Annotations = new Dictionary<string, string>(o.Annotations) { ["org.opencontainers.image.ref.name"] = img.Record.Name };
        if (o.MemoryMerge) spec.Annotations[Setup.MemoryMergeStep.Annotation] = "1";
        if (o.ClusterCgroup is { } cgroup2) spec.Annotations[Cgroups.ClusterCgroup.Annotation] = cgroup2;
        return spec;
    }

    /// <summary>
    /// With <c>--userns</c>, init — the mapped root, unprivileged on the host — attaches the rootfs at a path in the
    /// container's directory: every directory above it must be searchable by others (as runc requires of bundles).
    /// Checked up front, so a private root (0700) is a clear error instead of a failed mount.
    /// </summary>
    private static void CheckReachable(string dir, UserNsMapping u)
    {
        for (var d = Path.GetDirectoryName(dir); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            var st = new DirectoryInfo(d);
            if ((st.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                throw new RtException($"--userns: {d} is not searchable by others (mode {Convert.ToString((int)st.UnixFileMode, 8)}), so the container's root (host uid {u.HostId}) cannot reach its rootfs; make the runtime root and its parents o+x");
        }
    }

    /// <summary>
    /// Creates and starts a container from <paramref name="img"/>. Foreground: returns the launched process to wait
    /// for (stdio as given in the runtime options). Detached: stdout/stderr go to the log file and it returns once
    /// the process runs.
    /// </summary>
    public Started Run(RunOptions o, StoredImage img)
    {
        var id = ContainerNames.NewId();
        var name = o.Name ?? ContainerNames.NewName();
        ContainerNames.Validate(name);
        var layersTopFirst = new List<string>(img.LayerDirs.Count);
        for (int i = img.LayerDirs.Count - 1; i >= 0; i--) layersTopFirst.Add(img.LayerDirs[i]);
        var spec = BuildSpec(o, img, id, layersTopFirst, out var args);
        Setup.StartTrace.Mark("spec");

        Directory.CreateDirectory(Root.Containers);
        var dir = Path.Combine(Root.Containers, id);
        if (SysMkdirAt(AT_FDCWD_, dir, 0x1C9 /* 0711 */) != 0) throw Error("creating container directory", dir);
        bool claimed = false, ok = false;
        int log = -1;
        try
        {
            if (o.Name is not null) List(); // lets an exited `-d --rm` container release its name first
            ContainerNames.Claim(Root, name, id);
            claimed = true;
            var upper = Path.Combine(dir, "upper");
            var work = Path.Combine(dir, "work");
            Directory.CreateDirectory(upper);
            Directory.CreateDirectory(work);
            // The upper directory is the root of the container's /: owned by its mapped root, so root inside may
            // write there. Only this fresh, empty directory is chowned, never the shared layers (which are mounted
            // idmapped instead, see UserNamespace.MountOverlay).
            if (o.UserNs is { } un)
            {
                if (SysChown(upper, (int)un.HostId, (int)un.HostId) != 0) throw Error("chown", upper);
                CheckReachable(dir, un);
            }
            Directory.CreateDirectory(Path.Combine(dir, "rootfs"));
            Setup.StartTrace.Mark("dirs+name");
            EtcFiles.Write(dir, spec, spec.Hostname!, o.Network == "host", o.Dns, o.HostAddress);
            Setup.StartTrace.Mark("etc files");
            // This container's own copies, bind-mounted over /etc: writable by its root, as without --userns.
            if (o.UserNs is { } une)
                foreach (var f in new[] { EtcFiles.Hostname, EtcFiles.Hosts, EtcFiles.ResolvConf })
                    if (SysChown(Path.Combine(dir, f), (int)une.HostId, (int)une.HostId) != 0) throw Error("chown", Path.Combine(dir, f));
            // 0600: the environment may carry secrets an orchestrator injected (tinyonode's `secrets: env:`).
            var cfgPath = Path.Combine(dir, "config.json");
            int cfg = SysOpen(cfgPath, OFlag.WrOnly | OFlag.Creat | OFlag.Excl | OFlag.Cloexec, 0x180 /* 0600 */);
            if (cfg < 0) throw Error("creating", cfgPath);
            try
            {
                if (!SysWriteAll(cfg, JsonSerializer.SerializeToUtf8Bytes(spec, OciJson.Default.Spec))) throw Error("writing", cfgPath);
            }
            finally { SysClose(cfg); }
            var info = new ImageContainerInfo
            {
                Id = id, Name = name, Image = img.Record.Name, ImageId = img.ConfigDigest.ToString(), Manifest = img.Record.Manifest,
                Layers = [.. img.LayerDirs.Select(Path.GetFileName).OfType<string>()], Command = args, AutoRemove = o.Remove, Detached = o.Detach,
                LogMaxBytes = o.Detach ? runtime.Options.LogMaxBytes : 0,
            };
            File.WriteAllBytes(Path.Combine(dir, InfoName), JsonSerializer.SerializeToUtf8Bytes(info, ContainerJson.Default.ImageContainerInfo));
            Setup.StartTrace.Mark("config.json+info");

            var rt = runtime;
            int devnull = -1;
            if (o.Detach)
            {
                log = ContainerOutput.Open(Root, runtime.MonitorCommand, dir, id, runtime.Options.LogMaxBytes, runtime.Options.Warn);
                devnull = SysOpen("/dev/null", OFlag.RdOnly | OFlag.Cloexec, 0);
                rt = runtime.WithStdio(o.StdinFd ?? devnull, o.StdoutFd ?? log, log);
                Setup.StartTrace.Mark("log relay");
            }
            var overlay = new OverlayLayers(layersTopFirst, upper, work);
            ContainerRuntime.Launched? launched;
            int pid;
            try
            {
                // The spec is passed in memory: config.json above is the OCI state for other tools, not read back.
                // Detached or not, the process starts at once, as `run -d` of a bundle does: no exec FIFO and no
                // create/start split, so the direct start (the clone child execs the program; no `tinyort init`
                // process and handshake) serves detached image containers too — the node's every start.
                var bundle = Bundle.FromSpec(dir, spec);
                Setup.StartTrace.Mark("bundle");
                launched = rt.Launch(id, bundle, detached: false, overlay);
                pid = launched.Pid;
                if (o.Detach) launched = null;
            }
            finally
            {
                if (devnull >= 0) SysClose(devnull);
            }
            ok = true;
            return new Started(id, name, launched) { Pid = pid };
        }
        finally
        {
            if (log >= 0) SysClose(log);
            if (!ok)
            {
                // Launch removed the cgroup (and perhaps the directory); the name and what we made are ours to undo.
                try { if (File.Exists(Path.Combine(dir, ContainerRecord.FileName))) runtime.Delete(id, force: true); } catch (RtException) { }
                try { if (Directory.Exists(dir)) ImageGc.DeleteTree(dir); } catch (IOException) { }
                if (claimed) ContainerNames.Release(Root, name, id);
            }
        }
    }

    /// <summary>
    /// Starts a stopped detached image container again, in place: same id, name, upper layer (its files survive, as
    /// with <c>docker restart</c>) and log file (appended to). The old cgroup is removed and a new one made. A failure
    /// removes the container entirely (the runtime's create cleanup), so the caller creates a fresh one.
    /// <paramref name="stdin"/> and <paramref name="stdout"/> replace /dev/null and the log as in
    /// <see cref="RunOptions.StdinFd"/> (an orchestrator's pipe, given again on every restart).
    /// </summary>
    public void Restart(string id, int? stdin = null, int? stdout = null)
    {
        Bundle.ValidateId(id);
        var dir = Path.Combine(Root.Containers, id);
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status != "stopped") throw new RtException($"container {id} is {status}, not stopped");
        var info = Info(id) ?? throw new RtException($"container {id} was not made from an image");
        if (!info.Detached) throw new RtException($"container {id} is not a detached container");
        var layersTopFirst = new List<string>(info.Layers.Count);
        for (int i = info.Layers.Count - 1; i >= 0; i--)
        {
            var layer = Path.Combine(Root.Layers, info.Layers[i]);
            if (!Directory.Exists(layer)) throw new RtException($"container {id}: layer {info.Layers[i]} is missing from the store");
            layersTopFirst.Add(layer);
        }
        Cgroups.Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).Destroy();
        File.Delete(Path.Combine(dir, ContainerRecord.FifoName));
        int log = ContainerOutput.Open(Root, runtime.MonitorCommand, dir, id, info.LogMaxBytes > 1 ? info.LogMaxBytes : runtime.Options.LogMaxBytes, runtime.Options.Warn);
        int devnull = SysOpen("/dev/null", OFlag.RdOnly | OFlag.Cloexec, 0);
        try
        {
            var rt = runtime.WithStdio(stdin ?? devnull, stdout ?? log, log);
            bool ok = false;
            try
            {
                // Started at once, as Run does (no create/start split: the direct start applies).
                rt.Launch(id, dir, detached: false, new OverlayLayers(layersTopFirst, Path.Combine(dir, "upper"), Path.Combine(dir, "work")));
                ok = true;
            }
            finally
            {
                // Launch deletes the state directory when it fails; release the name and what is left with it.
                if (!ok)
                {
                    try { if (Directory.Exists(dir)) ImageGc.DeleteTree(dir); } catch (IOException) { }
                    ContainerNames.Release(Root, info.Name, id);
                }
            }
        }
        finally
        {
            SysClose(log);
            if (devnull >= 0) SysClose(devnull);
        }
    }

    /// <summary>
    /// Makes sure the root's exit monitor relays the log of every running detached container (a monitor adopts them
    /// when it starts, so this matters after the monitor died while nothing started since): the node calls it when
    /// it starts. A FIFO already relayed is left as it is. Returns how many logs were handed.
    /// </summary>
    public int RelayLogs()
    {
        int n = 0;
        foreach (var s in runtime.List())
        {
            if (s.Status != "running") continue;
            var dir = Path.Combine(Root.Containers, s.Id);
            var fifo = Path.Combine(dir, LogRelay.FifoName);
            if (!File.Exists(fifo)) continue;
            int r = SysOpen(fifo, OFlag.RdOnly | OFlag.NonBlock | OFlag.Cloexec, 0);
            if (r < 0) continue;
            try
            {
                var err = ExitMonitor.RelayLog(Root, runtime.MonitorCommand, s.Id, r, LogCapOf(dir));
                if (err is null) n++;
                else runtime.Options.Warn?.Invoke($"container {s.Id}: its log is not relayed: {err}");
            }
            finally { SysClose(r); }
        }
        return n;
    }

    /// <summary>The log cap recorded for the container in <paramref name="dir"/> (the default when none is).</summary>
    internal static long LogCapOf(string dir)
    {
        try
        {
            var info = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, InfoName)), ContainerJson.Default.ImageContainerInfo);
            return info?.LogMaxBytes > 1 ? info.LogMaxBytes : LogRelay.DefaultMaxBytes;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return LogRelay.DefaultMaxBytes; }
    }

    /// <summary>The image info of a container, or null for a bundle container.</summary>
    public ImageContainerInfo? Info(string id)
    {
        var f = Path.Combine(Root.Containers, id, InfoName);
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(f), ContainerJson.Default.ImageContainerInfo); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (JsonException e) { throw new RtException($"container {id}: corrupt {InfoName}: {e.Message}"); }
    }

    /// <summary>Removes a container — refusing a running one unless <paramref name="force"/> — with its upper and
    /// work directories, cgroup, state, log and name: nothing of it remains.</summary>
    public void Remove(string id, bool force)
    {
        Bundle.ValidateId(id);
        var dir = Path.Combine(Root.Containers, id);
        var info = Info(id);
        var rt = runtime;
        if (!force && File.Exists(Path.Combine(dir, ContainerRecord.FileName)) && rt.State(id).Status == "running")
            throw new RtException($"container {info?.Name ?? id} is running: stop it first or use -f");
        if (force && File.Exists(Path.Combine(dir, ContainerRecord.FileName)) && rt.State(id).Status != "stopped")
            rt.Kill(id, SIGKILL, all: true);
        // The overlay's directories first: they hold image content (odd names, read-only dirs, work/work at 000).
        foreach (var sub in new[] { "upper", "work/work", "work", "rootfs" })
        {
            var path = Path.Combine(dir, sub);
            // Usually empty (rootfs is only a mount point; overlay leaves work/work): one rmdir, no tree walk.
            if (SysRmdir(path) != 0 && Errno != Errno_.ENOENT) ImageGc.DeleteTree(path);
        }
        rt.Delete(id, force: true);
        if (info is not null) ContainerNames.Release(Root, info.Name, id);
    }

    /// <summary>
    /// Removes what creates interrupted by a kill -9 left behind — a container directory with no state record (its
    /// init died with the creator), and names pointing at no container — and returns the ids removed. Only for the
    /// one process that creates containers in this root (tinyonode at start or resync, on its single loop): a
    /// create running in another process at that moment would look the same.
    /// </summary>
    public List<string> RemoveIncomplete()
    {
        var removed = new List<string>();
        if (Directory.Exists(Root.Containers))
        {
            foreach (var d in Directory.GetDirectories(Root.Containers))
            {
                var id = Path.GetFileName(d);
                if (File.Exists(Path.Combine(d, ContainerRecord.FileName))) continue;
                try
                {
                    Bundle.ValidateId(id);
                    var name = Info(id)?.Name;
                    Remove(id, force: true);
                    if (name is not null) ContainerNames.Release(Root, name, id);
                    removed.Add(id);
                }
                catch (Exception e) when (e is RtException or IOException) { } // not a container directory, or busy
            }
        }
        ContainerNames.ReleaseStale(Root);
        return removed;
    }

    /// <summary>Every container (image and bundle ones), oldest first.</summary>
    public List<ContainerSummary> List()
    {
        var rt = runtime;
        var l = new List<ContainerSummary>();
        foreach (var s in rt.List())
        {
            try
            {
                var sum = Summary(s.Id);
                // `run -d --rm` has no process left to remove the container when it exits: the next listing does.
                if (sum.Status == "exited" && Info(s.Id) is { AutoRemove: true })
                {
                    Remove(s.Id, force: false);
                    continue;
                }
                l.Add(sum);
            }
            catch (RtException) { }
        }
        l.Sort((a, b) => string.CompareOrdinal(a.Created, b.Created));
        return l;
    }

    /// <summary>What <c>ps</c> and <c>inspect</c> show of one container.</summary>
    public ContainerSummary Summary(string id)
    {
        var dir = Path.Combine(Root.Containers, id);
        var rec = ContainerRecord.Load(dir, id);
        var info = Info(id);
        var status = rec.Status(dir);
        return new ContainerSummary
        {
            Id = id, Name = info?.Name ?? "", Image = info?.Image ?? "", Command = info?.Command ?? [],
            Status = status == "stopped" ? "exited" : status, ExitCode = status == "stopped" ? rec.ExitCode : null,
            OomKilled = status == "stopped" ? rec.OomKilled : null, Pid = status == "stopped" ? 0 : rec.Pid,
            Created = rec.Created, Bundle = rec.Bundle, ImageId = info?.ImageId, Layers = info?.Layers,
            LogPath = info?.Detached == true ? LogFile(id) : null, DuplicatedFrom = info?.DuplicatedFrom,
        };
    }

    /// <summary>JSON of container summaries (inspect).</summary>
    public static string ToJson(List<ContainerSummary> l) => JsonSerializer.Serialize(l, Readable.ListContainerSummary);

    // Commands contain quotes and shell metacharacters: print them as they are (the output is not embedded in HTML).
    private static readonly ContainerJson Readable = new(new JsonSerializerOptions(ContainerJson.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>
    /// The image info of every container under <paramref name="root"/> (unreadable entries are skipped). Used by
    /// <see cref="ImageGc"/> to keep the layers and manifests of containers alive, and by <c>rmi</c>.
    /// </summary>
    public static List<ImageContainerInfo> InUse(RuntimeRoot root)
    {
        var l = new List<ImageContainerInfo>();
        if (!Directory.Exists(root.Containers)) return l;
        foreach (var d in Directory.EnumerateDirectories(root.Containers))
        {
            try
            {
                var f = Path.Combine(d, InfoName);
                if (!File.Exists(f)) continue;
                if (JsonSerializer.Deserialize(File.ReadAllBytes(f), ContainerJson.Default.ImageContainerInfo) is { } i) l.Add(i);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { }
        }
        return l;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for a container's process to end.</summary>
    public bool WaitStopped(string id, TimeSpan timeout)
    {
        var dir = Path.Combine(Root.Containers, id);
        var rec = ContainerRecord.Load(dir, id);
        var end = DateTime.UtcNow + timeout;
        while (ContainerRecord.IsAlive(rec.Pid, rec.PidStartTime))
        {
            if (DateTime.UtcNow >= end) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    /// <summary>Formats a duration the way docker's ps does (e.g. "3 seconds ago").</summary>
    public static string Ago(string created)
    {
        if (created.Length > 27) created = created[..27] + "Z";
        if (!DateTime.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)) return created;
        var d = DateTime.UtcNow - t;
        if (d.TotalSeconds < 60) return $"{(int)d.TotalSeconds} seconds ago";
        if (d.TotalMinutes < 60) return $"{(int)d.TotalMinutes} minutes ago";
        if (d.TotalHours < 48) return $"{(int)d.TotalHours} hours ago";
        return $"{(int)d.TotalDays} days ago";
    }
}
