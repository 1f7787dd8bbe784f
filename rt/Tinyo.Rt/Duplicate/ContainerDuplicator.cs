using System.Diagnostics;
using System.Text.Json;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Setup;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Duplicate;

/// <summary>
/// Duplicates a running image container into N new ones, reusing what the source was made from instead of making it
/// again: its image layers (the same lower directories: no pull, no unpack, no manifest or image config read), its
/// spec as it was compiled for the source (parsed from its <c>config.json</c> once per request; the seccomp program
/// compiled once and shared by every clone), its cgroup limits, and its files — the source's overlay upper directory
/// is snapshotted at that moment (<see cref="UpperSnapshot"/>: reflink where the file system can, a copy otherwise)
/// while the source keeps running untouched. Only the id, name, hostname, paths (state directory, upper, work,
/// /etc files) and the caller's <see cref="DuplicateRequest.Adjust"/> (labels, network) change.
/// </summary>
/// <remarks>
/// <para>Each clone is an ordinary image container (<c>ps</c>, <c>logs</c>, <c>exec</c>, <c>rm</c> work on it):
/// new pid, mount, uts, ipc, net and cgroup namespaces, its own pid 1 and hostname. It starts by the direct path
/// (the clone child runs the set-up rows and execs the program: no init process, no exec FIFO), detached, with its
/// output in its own log. With <see cref="DuplicateRequest.MemoryMerge"/> and a kernel that has PR_SET_MEMORY_MERGE
/// it opts into same-page merging before exec (<see cref="MemoryMergeStep"/>).</para>
/// <para>All or nothing: every check that needs no clone (source running, names free, count in range, criu for
/// <c>--live</c>) is made before anything exists; a clone that fails half way (a full disk during its snapshot,
/// a set-up step refused) is removed — directory, name, cgroup, process — and so are the clones of the same request
/// made before it. The source is only read.</para>
/// </remarks>
public sealed class ContainerDuplicator(ImageContainers containers)
{
    /// <summary>The most clones one request makes.</summary>
    public const int MaxCount = 1000;

    /// <summary>The annotation a clone carries: the name of the container it was duplicated from.</summary>
    public const string SourceAnnotation = "io.tinyo.duplicated-from";

    private RuntimeRoot Root => containers.Root;

    /// <summary>Makes the clones; returns them running. Throws <see cref="RtException"/> naming the problem, with
    /// nothing of the request left behind and the source as it was.</summary>
    public DuplicateResult Duplicate(DuplicateRequest r)
    {
        var total = Stopwatch.StartNew();
        var names = NamesOf(r);
        int parallel = ParallelismOf(r, names.Count);
        var (srcId, srcName) = ResolveSource(r.Source);
        var srcDir = Path.Combine(Root.Containers, srcId);
        var info = containers.Info(srcId) ?? throw new RtException($"container {r.Source} was not made from an image: only image containers can be duplicated");
        foreach (var n in names)
            if (ContainerNames.Lookup(Root, n) is { } owner)
                throw new RtException($"the container name \"{n}\" is already in use by container {owner}: remove it or choose another name");
        if (r.Live)
        {
            if (LiveState.Unavailable() is { } why) throw new RtException($"--live refused: {why}");
            throw new RtException("--live refused: criu check passes here, but restoring clones from a checkpoint is not implemented yet");
        }

        // The source as it was made: its spec (parsed once here, and again per clone from these bytes so each clone
        // has its own copy to change), its compiled seccomp program, its layers.
        byte[] config;
        try { config = File.ReadAllBytes(Path.Combine(srcDir, "config.json")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new RtException($"container {r.Source}: cannot read its config.json: {e.Message}"); }
        var proto = Bundle.FromSpec(srcDir, Bundle.Parse(config, $"container {r.Source}: config.json"));
        var layersTopFirst = new List<string>(info.Layers.Count);
        for (int i = info.Layers.Count - 1; i >= 0; i--)
        {
            var layer = Path.Combine(Root.Layers, info.Layers[i]);
            if (!Directory.Exists(layer)) throw new RtException($"container {r.Source}: layer {info.Layers[i]} is missing from the store");
            layersTopFirst.Add(layer);
        }
        bool userNs = proto.Spec.Linux?.Namespaces?.Exists(n => n.Type == "user") == true;
        bool merge = r.MemoryMerge && !userNs && MemoryMerge.Supported;
        string note = !r.MemoryMerge ? "not asked for"
            : userNs ? "not available in a user namespace (PR_SET_MEMORY_MERGE needs CAP_SYS_RESOURCE on the host)"
            : !merge ? "this kernel has no PR_SET_MEMORY_MERGE (Linux 6.4 or later)"
            : MemoryMerge.Running ? "ksmd running" : "ksmd off (echo 1 > /sys/kernel/mm/ksm/run to merge)";

        // Each clone's own network namespace is made ahead, on another thread, while the clones' files and cgroups
        // are made here (NetnsReserve). Not when the caller adjusts the clones (an orchestrator gives each one of its
        // own) nor in a user namespace (a namespace made here would belong to the host's).
        bool newNet = proto.Spec.Linux?.Namespaces?.Exists(n => n.Type == "network" && string.IsNullOrEmpty(n.Path)) == true;
        using var netns = newNet && !userNs && r.Adjust is null && r.PrepareNetworks ? new NetnsReserve(names.Count) : null;
        // The merge-any flag each clone's child sets on this process (CLONE_VM) is taken off once, after the last clone.
        using var mergeHold = merge ? DirectBackend.MergeScope() : null;
        var made = new ClonedContainer?[names.Count];
        bool ok = false;
        try
        {
            void clone(int i) => made[i] = CloneOne(i, names[i], srcName, srcDir, config, proto, info, layersTopFirst, merge, r.Adjust, r.Dns, r.HostAddress, netns);
            var failure = CloneBatch.Run(names.Count, parallel, clone);
            if (failure is not null)
            {
                int others = Array.FindAll(made, c => c is not null).Length;
                if (failure is RtException e && others > 0)
                    throw new RtException($"{e.Message} (the {others} other clone{(others == 1 ? "" : "s")} this request made were removed)");
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }
            ok = true;
        }
        finally
        {
            if (!ok)
                foreach (var c in made)
                    if (c is not null)
                        try { containers.Remove(c.Id, force: true); } catch (RtException) { }
        }
        return new DuplicateResult(srcId, srcName, Array.ConvertAll(made, c => c!), merge, note, total.Elapsed);
    }

    /// <summary>How many clones are made at once: the request's <see cref="DuplicateRequest.Parallelism"/>, else one per
    /// core (a clone is mostly this process's CPU — spec, files, snapshot — and the kernel's in its clone(2), so more
    /// threads than cores only queue), never more than there are clones.</summary>
    private static int ParallelismOf(DuplicateRequest r, int count)
    {
        if (r.Parallelism is < 0 or > MaxCount) throw new RtException($"--parallel {r.Parallelism} is out of range: 0 to {MaxCount} (0: one per core)");
        int p = r.Parallelism > 0 ? r.Parallelism : Environment.ProcessorCount;
        return Math.Clamp(p, 1, count);
    }

    private static List<string> NamesOf(DuplicateRequest r)
    {
        List<string> names;
        if (r.Names is { } given)
        {
            if (given.Count is < 1 or > MaxCount) throw new RtException($"{given.Count} clones is out of range: 1 to {MaxCount}");
            names = [.. given];
        }
        else
        {
            if (r.Count is < 1 or > MaxCount) throw new RtException($"-n {r.Count} is out of range: 1 to {MaxCount}");
            ContainerNames.Validate(r.Name);
            names = r.Count == 1 ? [r.Name] : [.. Enumerable.Range(1, r.Count).Select(i => $"{r.Name}-{i}")];
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in names)
        {
            ContainerNames.Validate(n);
            if (!seen.Add(n)) throw new RtException($"the name \"{n}\" is given twice");
        }
        return names;
    }

    private (string Id, string Name) ResolveSource(string source)
    {
        if (string.IsNullOrEmpty(source)) throw new RtException("no source container given");
        string? id = ContainerNames.Lookup(Root, source);
        if (id is null)
        {
            try { Bundle.ValidateId(source); } catch (RtException) { throw new RtException($"no container named {source}"); }
            if (File.Exists(Path.Combine(Root.Containers, source, ContainerRecord.FileName))) id = source;
        }
        if (id is null) throw new RtException($"no container named {source}");
        var dir = Path.Combine(Root.Containers, id);
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { throw new RtException($"no container named {source}"); }
        var status = rec.Status(dir);
        if (status != "running") throw new RtException($"container {source} is {(status == "stopped" ? "exited" : status)}: only a running container can be duplicated");
        return (id, containers.Info(id)?.Name ?? id);
    }

    private ClonedContainer CloneOne(int index, string name, string srcName, string srcDir, byte[] config,
        Bundle proto, ImageContainerInfo info, List<string> layersTopFirst, bool merge, Action<DuplicateClone, Spec>? adjust,
        IReadOnlyList<string> dns, string? hostAddress, NetnsReserve? netns)
    {
        var sw = Stopwatch.StartNew();
        using var trace = StartTrace.Begin();
        var id = ContainerNames.NewId();
        var dir = Path.Combine(Root.Containers, id);
        var spec = Bundle.Parse(config);
        string hostname = name.Length <= 63 ? name : id;
        PrepareSpec(spec, hostname, srcName, srcDir, merge);
        adjust?.Invoke(new DuplicateClone(index, id, name, dir), spec);
        foreach (var ns in spec.Linux?.Namespaces ?? [])
            if (ns.Type == "network" && !string.IsNullOrEmpty(ns.Path)
                && proto.Spec.Linux!.Namespaces!.Exists(p => p.Type == "network" && p.Path == ns.Path))
                throw new RtException($"container {srcName} joins the network namespace {ns.Path}: a clone needs one of its own (duplicate it through its orchestrator)");
        StartTrace.Mark("spec copied and changed");

        if (SysMkdirAt(AT_FDCWD_, dir, 0x1C9 /* 0711 */) != 0) throw Error("creating container directory", dir);
        bool claimed = false, ok = false;
        int log = -1, devnull = -1, netFd = -1;
        try
        {
            ContainerNames.Claim(Root, name, id);
            claimed = true;
            StartTrace.Mark("directory, name");
            bool hostNet = spec.Linux?.Namespaces?.Exists(n => n.Type == "network") != true;
            // The source's resolv.conf when nothing asks for other name servers (same network mode: same file).
            EtcFiles.Write(dir, spec, hostname, hostNet, dns, hostAddress, resolvConfOf: dns.Count == 0 && adjust is null ? srcDir : null);
            StartTrace.Mark("/etc files");
            var upper = Path.Combine(dir, "upper");
            var work = Path.Combine(dir, "work");
            var snap = UpperSnapshot.Take(Path.Combine(srcDir, "upper"), upper);
            StartTrace.Mark("upper snapshot");
            if (SysMkdirAt(AT_FDCWD_, work, 0x1ED /* 0755 */) != 0) throw Error("creating", work);
            var rootfs = Path.Combine(dir, "rootfs");
            if (SysMkdirAt(AT_FDCWD_, rootfs, 0x1ED) != 0) throw Error("creating", rootfs);
            log = SysOpen(containers.LogFile(id), OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | 0x400 /* O_APPEND */, 0x1A0 /* 0640 */);
            if (log < 0) throw Error("creating log file", containers.LogFile(id));
            devnull = SysOpen("/dev/null", OFlag.RdOnly | OFlag.Cloexec, 0);
            if (devnull < 0) throw Error("opening", "/dev/null");
            StartTrace.Mark("work, rootfs, log");
            // Written on this thread: serializing them on another one, overlapping the snapshot and launch, was
            // measured slower here (a fresh process's first thread-pool task and the serializer's first use wait
            // for a core: 5.4 ms minimum cold against 1.7 in line; no better warm), docs/benchmarks.md § 9c.
            WriteState(dir, spec, new ImageContainerInfo
            {
                Id = id, Name = name, Image = info.Image, ImageId = info.ImageId, Manifest = info.Manifest, Layers = info.Layers,
                Command = info.Command, Detached = true, DuplicatedFrom = srcName,
            });
            StartTrace.Mark("config.json, image.json");
            // A namespace made ahead (config.json, written above, keeps its own unnamed one: what it is).
            if (netns is not null && spec.Linux?.Namespaces?.Find(n => n.Type == "network") is { } net && string.IsNullOrEmpty(net.Path))
            {
                netFd = netns.Take();
                net.Path = "/proc/self/fd/" + netFd.ToString(System.Globalization.CultureInfo.InvariantCulture);
                StartTrace.Mark("network namespace (made ahead: wait)");
            }
            // Not detached in the runtime's sense: no exec FIFO and no init waiting for `start`, so the direct start
            // builds the container and execs its process in one clone; the process then runs on its own (the caller
            // hands it to the exit monitor, or is tinyonode, its subreaper).
            var launched = containers.Runtime.WithStdio(devnull, log, log)
                .Launch(id, Bundle.FromSpec(dir, spec, proto.Seccomp), detached: false, new OverlayLayers(layersTopFirst, upper, work));
            ok = true;
            trace?.Dispose();
            return new ClonedContainer(id, name, launched.Pid, snap, sw.Elapsed) { Trace = trace };
        }
        catch (RtException e)
        {
            throw new RtException($"duplicating {srcName} into {name} (id {id}) failed: {e.Message}");
        }
        finally
        {
            if (log >= 0) SysClose(log);
            if (devnull >= 0) SysClose(devnull);
            if (netFd >= 0) SysClose(netFd); // the clone's process holds its namespace now (or it is gone with it)
            if (!ok)
            {
                try { if (File.Exists(Path.Combine(dir, ContainerRecord.FileName))) containers.Runtime.Delete(id, force: true); } catch (RtException) { }
                try { if (Directory.Exists(dir)) Images.ImageGc.DeleteTree(dir); } catch (IOException) { }
                if (claimed) ContainerNames.Release(Root, name, id);
            }
        }
    }

    /// <summary>What changes from the source's spec to a clone's: hostname (and HOSTNAME), the /etc files (the
    /// source's state directory's copies are replaced by the clone's own), the cgroup path (by id), the annotations.</summary>
    private static void PrepareSpec(Spec spec, string hostname, string srcName, string srcDir, bool merge)
    {
        spec.Hostname = hostname;
        if (spec.Process?.Env is { } env)
        {
            int h = env.FindIndex(e => e.StartsWith("HOSTNAME=", StringComparison.Ordinal));
            if (h >= 0) env[h] = "HOSTNAME=" + hostname;
        }
        spec.Mounts?.RemoveAll(m => m.Source is { } s && Path.GetDirectoryName(s) == srcDir
            && m.Destination is "/etc/" + EtcFiles.Hosts or "/etc/" + EtcFiles.Hostname or "/etc/" + EtcFiles.ResolvConf);
        foreach (var m in spec.Mounts ?? [])
            if (m.Source is { } s && (s == srcDir || s.StartsWith(srcDir + "/", StringComparison.Ordinal)))
                throw new RtException($"container {srcName}: its mount on {m.Destination} comes from its own state directory, which a clone cannot share");
        if (spec.Linux is { } l) l.CgroupsPath = null; // the default, by the clone's id
        var ann = spec.Annotations is null ? new Dictionary<string, string>() : new Dictionary<string, string>(spec.Annotations);
        ann[SourceAnnotation] = srcName;
        if (merge) ann[MemoryMergeStep.Annotation] = "1";
        else ann.Remove(MemoryMergeStep.Annotation);
        spec.Annotations = ann;
    }

    private static void WriteState(string dir, Spec spec, ImageContainerInfo info)
    {
        // 0600, as a container made by run: the environment may carry secrets an orchestrator injected. One write
        // each and no fsync, as every state file of the runtime: they describe processes that do not survive a host
        // crash, so there is nothing for them to be durable about across one.
        var cfgPath = Path.Combine(dir, "config.json");
        int cfg = SysOpen(cfgPath, OFlag.WrOnly | OFlag.Creat | OFlag.Excl | OFlag.Cloexec, 0x180 /* 0600 */);
        if (cfg < 0) throw Error("creating", cfgPath);
        try
        {
            if (!SysWriteAll(cfg, JsonSerializer.SerializeToUtf8Bytes(spec, OciJson.Default.Spec))) throw Error("writing", cfgPath);
        }
        finally { SysClose(cfg); }
        File.WriteAllBytes(Path.Combine(dir, ImageContainers.InfoName), JsonSerializer.SerializeToUtf8Bytes(info, ContainerJson.Default.ImageContainerInfo));
    }
}
