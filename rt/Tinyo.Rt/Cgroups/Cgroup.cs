using System.Globalization;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// A container's cgroup: one directory per v1 hierarchy, or one directory in the unified hierarchy. Created and
/// limited before the container's init starts its work, joined by the parent writing init's pid, destroyed on
/// delete (after killing whatever is left in it).
/// </summary>
public sealed partial class Cgroup
{
    /// <summary>v1 controllers a container joins. Named hierarchies (name=systemd) are left to their owners.
    /// Each joined hierarchy costs a mkdir and an rmdir per container, so only those with limits or security
    /// duties are joined — plus, for a container that names its cgroup (<c>linux.cgroupsPath</c>, which Docker,
    /// containerd, podman and Kubernetes always set), <see cref="EngineV1Controllers"/>: engines pause containers
    /// (freezer) and read CPU usage from the container's own cpuacct cgroup (containerd's shim finds the cgroups
    /// through <c>/proc/PID/cgroup</c>: left at the root, <c>docker stats</c> would show the whole host's CPU).
    /// cpuset is joined when the spec sets <c>cpu.cpus</c> or <c>cpu.mems</c>, and for engines (as runc, which always
    /// joins it: <c>docker update --cpuset-cpus</c> needs the container in its own cpuset); a container without either
    /// stays in the runtime's cpuset, which is what a cpuset cgroup copied from its parent would give it anyway.</summary>
    private static readonly string[] V1Controllers = ["memory", "cpu", "pids", "devices"];
    /// <summary>See <see cref="V1Controllers"/>.</summary>
    private static readonly string[] EngineV1Controllers = ["memory", "cpu", "cpuacct", "pids", "devices", "freezer", "cpuset"];

    private Cgroup(List<string> dirs, bool v2) { Directories = dirs; IsV2 = v2; }

    /// <summary>Absolute cgroup directories (one per hierarchy), deepest first in <see cref="Destroy"/> order.</summary>
    public IReadOnlyList<string> Directories { get; }
    /// <summary>Whether this is a unified-hierarchy cgroup.</summary>
    public bool IsV2 { get; }

    /// <summary>Reattaches to directories recorded in a container's state.</summary>
    public static Cgroup Open(IReadOnlyList<string> dirs, bool v2) => new([.. dirs], v2);

    /// <summary>
    /// Creates the cgroup at <paramref name="relPath"/> (relative to each hierarchy's root) and applies
    /// <paramref name="r"/>: limits, cpuset, and the device rules (v1: the devices controller; v2: a BPF program
    /// attached to the directory). On failure nothing is left, neither the cgroup nor the parents made for it.
    /// </summary>
    public static Cgroup Create(CgroupHost host, string relPath, SpecResources? r, Action<string>? warn)
    {
        var rules = DeviceRules.For(r); // bad rules are refused before anything is made
        var created = new List<string>();
        var dirs = new List<string>();
        try
        {
            if (host.IsV2)
            {
                string dir = Path.Combine(host.V2Root!, relPath);
                // Controllers must be enabled in every ancestor's subtree_control for the leaf to have them.
                if (WantsNetClass(r?.Network) || WantsNetPrio(r?.Network))
                    throw new RtException("linux.resources.network: cgroup v2 has no net_cls or net_prio controller; refusing to run the container without it");
                var enable = ControllersToEnable(host.V2Root!, r);
                MakeDirs(host.V2Root!, relPath, created, enable.Length == 0 ? null : d => Write(d, "cgroup.subtree_control", enable, optional: true));
                dirs.Add(dir);
                var cg = new Cgroup(dirs, true);
                cg.ApplyV2(r, warn);
                if (host.DeviceFilter) DeviceProgram.Attach(dir, rules);
                return cg;
            }
            bool engine = !relPath.StartsWith(CgroupPath.DefaultParent + "/", StringComparison.Ordinal);
            var extra = ExtraV1Controllers(host, r); // refused before anything is made
            var seen = new HashSet<string>();
            foreach (var c in engine ? EngineV1Controllers : V1Controllers)
                JoinV1(host, c, relPath, seen, created, dirs);
            if (!engine && WantsCpuset(r)) JoinV1(host, "cpuset", relPath, seen, created, dirs);
            foreach (var c in extra) JoinV1(host, c, relPath, seen, created, dirs);
            if (dirs.Count == 0) throw new RtException("no cgroup controllers are mounted under /sys/fs/cgroup");
            var g = new Cgroup(dirs, false);
            g.ApplyV1(rules, r, warn);
            return g;
        }
        catch
        {
            for (int i = created.Count - 1; i >= 0; i--)
            {
                // Children were added after their parents: the leaf goes first, then the parents made for it.
                try { if (Directory.Exists(created[i])) Directory.Delete(created[i]); } catch (IOException) { }
                CgroupAncestors.RemoveIfUnused(created[i]);
                // A failed first container must not leave the shared parent behind either.
                RemoveDefaultParentIfEmpty(created[i]);
            }
            throw;
        }
    }

    /// <summary>
    /// The v1 hierarchies beyond the usual ones that <paramref name="r"/>'s limits need (blkio, hugetlb, net_cls,
    /// net_prio, rdma). One the host does not mount is refused here, naming the field, before any directory is made:
    /// a limit asked for is applied or the container does not start.
    /// </summary>
    private static List<string> ExtraV1Controllers(CgroupHost host, SpecResources? r)
    {
        var l = new List<string>();
        if (r is null) return l;
        void Need(bool wanted, string controller, string field)
        {
            if (!wanted) return;
            if (host.V1MountOf(controller) is null)
                throw new RtException($"{field}: the host has no {controller} cgroup controller mounted; refusing to run the container without the limit");
            l.Add(controller);
        }
        Need(WantsBlkio(r.BlockIO), "blkio", "linux.resources.blockIO");
        Need(r.HugepageLimits is { Count: > 0 }, "hugetlb", "linux.resources.hugepageLimits");
        Need(WantsNetClass(r.Network), "net_cls", "linux.resources.network.classID");
        Need(WantsNetPrio(r.Network), "net_prio", "linux.resources.network.priorities");
        Need(r.Rdma is { Count: > 0 }, "rdma", "linux.resources.rdma");
        if (r.Unified is { Count: > 0 })
            throw new RtException("linux.resources.unified: the host's cgroups are v1; unified keys need cgroup v2");
        return l;
    }

    private static bool WantsCpuset(SpecResources? r) =>
        r?.Cpu is { } c && (!string.IsNullOrEmpty(c.Cpus) || !string.IsNullOrEmpty(c.Mems));

    private static void JoinV1(CgroupHost host, string controller, string relPath, HashSet<string> seen, List<string> created, List<string> dirs)
    {
        var mnt = host.V1MountOf(controller);
        if (mnt is null || !seen.Add(mnt)) return;
        MakeDirs(mnt, relPath, created);
        if (controller == "cpuset") FillCpusets(mnt, relPath);
        dirs.Add(Path.Combine(mnt, relPath));
    }

    /// <summary>
    /// mkdir of each level of <paramref name="relPath"/> below <paramref name="root"/> that does not exist. What it
    /// made is added to <paramref name="created"/> (parents before children); parents it made other than the shared
    /// <c>tinyo/</c> are recorded in <see cref="CgroupAncestors"/>, so the last container out removes them. A parent
    /// that a concurrent delete removes meanwhile is made again (a few tries).
    /// </summary>
    /// <param name="root">The hierarchy's mount point.</param>
    /// <param name="relPath">The cgroup's path below it.</param>
    /// <param name="created">Receives what was made.</param>
    /// <param name="atParent">Called for the root and each parent before its child is made or entered.</param>
    private static void MakeDirs(string root, string relPath, List<string> created, Action<string>? atParent = null)
    {
        var parts = relPath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int attempt = 0; ; attempt++)
        {
            string d = root.TrimEnd('/');
            bool again = false;
            for (int i = 0; i < parts.Length && !again; i++)
            {
                atParent?.Invoke(d);
                d += "/" + parts[i];
                if (Linux.Libc.SysMkdirAt(Linux.Libc.AT_FDCWD_, d, 0x1ED /* 0755 */) == 0)
                {
                    created.Add(d);
                    if (i < parts.Length - 1 && !(i == 0 && parts[0] == CgroupPath.DefaultParent)) CgroupAncestors.Made(d);
                    continue;
                }
                int errno = Linux.Libc.Errno;
                if (errno == Linux.Libc.Errno_.EEXIST) continue;
                if (errno == Linux.Libc.Errno_.ENOENT && i > 0 && attempt < 10) { again = true; continue; }
                throw Linux.Libc.Error("creating cgroup", d, errno);
            }
            if (!again) return;
        }
    }

    /// <summary>
    /// A new v1 cpuset cgroup starts with empty <c>cpuset.cpus</c> and <c>cpuset.mems</c>, and no task can join it
    /// until both are set: as runc does, each level from the top down that has an empty one gets its parent's.
    /// </summary>
    private static void FillCpusets(string mnt, string relPath)
    {
        string parent = mnt.TrimEnd('/');
        foreach (var part in relPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string d = parent + "/" + part;
            foreach (var f in new[] { "cpuset.cpus", "cpuset.mems" })
                if (string.IsNullOrEmpty(ReadText(d, f)) && ReadText(parent, f) is { Length: > 0 } v) Write(d, f, v);
            parent = d;
        }
    }

    /// <summary>"+memory +cpu +pids" (and cpuset, io, hugetlb, rdma when <paramref name="r"/> sets their limits): those
    /// of them the tree has. One it lacks makes its limit's file missing, which the limit's write refuses.</summary>
    private static string ControllersToEnable(string root, SpecResources? r)
    {
        var available = File.ReadAllText(Path.Combine(root, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var wanted = new List<string> { "memory", "cpu", "pids" };
        if (WantsCpuset(r)) wanted.Add("cpuset");
        if (WantsBlkio(r?.BlockIO)) wanted.Add("io");
        if (r?.HugepageLimits is { Count: > 0 }) wanted.Add("hugetlb");
        if (r?.Rdma is { Count: > 0 }) wanted.Add("rdma");
        return string.Join(' ', wanted.Where(c => available.Contains(c)).Select(c => "+" + c));
    }

    /// <summary>Writes a cgroup control file with one open/write/close (FileStream's locking and size probing cost
    /// more than the write itself, and a container start does dozens of these).</summary>
    private static void Write(string dir, string file, string value, bool optional = false)
    {
        var path = dir + "/" + file;
        int fd = Linux.Libc.SysOpen(path, Linux.Libc.OFlag.WrOnly | Linux.Libc.OFlag.Cloexec, 0);
        if (fd < 0)
        {
            if (optional && Linux.Libc.Errno == Linux.Libc.Errno_.ENOENT) return;
            throw Linux.Libc.Error($"cgroup: opening", path);
        }
        try
        {
            if (!Linux.Libc.SysWriteAll(fd, System.Text.Encoding.UTF8.GetBytes(value)))
                throw Linux.Libc.Error($"cgroup: writing \"{value}\" to", path);
        }
        finally { Linux.Libc.SysClose(fd); }
    }

    /// <summary>Writes a limit the container asked for; a host without the file (the kernel or controller lacks
    /// it) is refused naming the spec field, not skipped: a limit asked for is applied or the container does not start.</summary>
    private static void Require(string dir, string file, string value, string field)
    {
        if (!File.Exists(Path.Combine(dir, file)))
            throw new RtException($"{field}: this host's cgroup has no {file}; refusing to run the container without the limit");
        try
        {
            Write(dir, file, value);
        }
        catch (RtException e)
        {
            throw new RtException($"{field}: {e.Message}");
        }
    }

    private string? DirOf(string file)
    {
        foreach (var d in Directories) if (File.Exists(Path.Combine(d, file))) return d;
        return null;
    }

    private void ApplyV1(List<DeviceRule> rules, SpecResources? r, Action<string>? warn)
    {
        // Devices: deny everything, apply the spec's rules in order, then allow the nodes every container gets.
        if (DirOf("devices.deny") is { } dev)
            foreach (var rule in rules) Write(dev, rule.Allow ? "devices.allow" : "devices.deny", rule.V1Text);
        ApplyV1Limits(r, warn);
    }

    /// <summary>The v1 limits of <paramref name="r"/> (all but devices): at create and on update.</summary>
    private void ApplyV1Limits(SpecResources? r, Action<string>? warn)
    {
        if (r is null) return;
        if (r.Memory is { } m && DirOf("memory.limit_in_bytes") is { } mem)
        {
            if (m.Limit is { } l && l > 0) Write(mem, "memory.limit_in_bytes", N(l));
            if (m.Swap is { } s && s > 0)
            {
                if (File.Exists(Path.Combine(mem, "memory.memsw.limit_in_bytes"))) Write(mem, "memory.memsw.limit_in_bytes", N(s));
                else warn?.Invoke("linux.resources.memory.swap ignored: the host has no swap accounting");
            }
            if (m.Reservation is { } res && res > 0) Write(mem, "memory.soft_limit_in_bytes", N(res));
            if (m.Swappiness is { } sw && sw <= 100) Write(mem, "memory.swappiness", N((long)sw), optional: true);
            if (m.DisableOOMKiller == true) Write(mem, "memory.oom_control", "1");
            if (m.KernelTcp is { } kt && kt != 0) Require(mem, "memory.kmem.tcp.limit_in_bytes", N(kt < 0 ? -1 : kt), "linux.resources.memory.kernelTCP");
        }
        if (r.Memory?.Kernel is { } k && k != 0)
            warn?.Invoke("linux.resources.memory.kernel ignored: kernel memory limits are deprecated by the runtime spec (runc and crun ignore them too)");
        if (r.Cpu is { } c && DirOf("cpu.shares") is { } cpu)
        {
            if (c.Shares is { } sh && sh > 0) Write(cpu, "cpu.shares", N((long)sh));
            if (c.Period is { } p && p > 0) Write(cpu, "cpu.cfs_period_us", N((long)p));
            if (c.Quota is { } q && q != 0) Write(cpu, "cpu.cfs_quota_us", N(q < 0 ? -1 : q));
            if (c.Burst is { } bu) Require(cpu, "cpu.cfs_burst_us", N((long)bu), "linux.resources.cpu.burst");
            if (c.Idle is { } idle) Require(cpu, "cpu.idle", N(idle), "linux.resources.cpu.idle");
            // The period first: a runtime is checked against the period in force when it is written.
            if (c.RealtimePeriod is { } rp && rp > 0) Require(cpu, "cpu.rt_period_us", N((long)rp), "linux.resources.cpu.realtimePeriod");
            if (c.RealtimeRuntime is { } rr && rr != 0) Require(cpu, "cpu.rt_runtime_us", N(rr), "linux.resources.cpu.realtimeRuntime");
        }
        if (r.Pids is { } pids && pids.Limit > 0 && DirOf("pids.max") is { } pd) Write(pd, "pids.max", N(pids.Limit));
        if (WantsCpuset(r))
        {
            if (DirOf("cpuset.cpus") is { } cs)
            {
                // Both were copied from the parent at create: each can be narrowed on its own.
                if (!string.IsNullOrEmpty(r.Cpu!.Cpus)) Write(cs, "cpuset.cpus", r.Cpu.Cpus);
                if (!string.IsNullOrEmpty(r.Cpu.Mems)) Write(cs, "cpuset.mems", r.Cpu.Mems);
            }
            else warn?.Invoke("linux.resources.cpu.cpus/mems ignored: the container has no cpuset cgroup (none is mounted, or it was created without one)");
        }
        ApplyOthers(r);
    }

    /// <summary>Block I/O, huge pages, network class and priorities, RDMA, unified keys: v1 and v2 alike.</summary>
    private void ApplyOthers(SpecResources r)
    {
        if (r.BlockIO is { } b) { if (IsV2) ApplyIoV2(Directories[0], b); else ApplyBlkioV1(b); }
        if (r.HugepageLimits is { Count: > 0 } h) ApplyHugetlb(h, IsV2);
        if (r.Network is { } n) ApplyNetwork(n, IsV2);
        if (r.Rdma is { Count: > 0 } rd) ApplyRdma(rd, IsV2);
        if (r.Unified is { Count: > 0 } u) ApplyUnified(u);
    }

    private void ApplyV2(SpecResources? r, Action<string>? warn)
    {
        var d = Directories[0];
        if (r is null) return;
        if (r.Memory?.Kernel is { } k && k != 0)
            warn?.Invoke("linux.resources.memory.kernel ignored: kernel memory limits are deprecated by the runtime spec (runc and crun ignore them too)");
        if (r.Memory is { } m)
        {
            if (m.Limit is { } l && l > 0) Write(d, "memory.max", N(l));
            if (m.Reservation is { } res && res > 0) Write(d, "memory.low", N(res));
            if (m.Swap is { } s && s > 0 && m.Limit is { } ml && ml > 0) Write(d, "memory.swap.max", N(Math.Max(0, s - ml)), optional: true);
        }
        if (r.Cpu is { } c)
        {
            if (c.Shares is { } sh && sh > 0) Write(d, "cpu.weight", N((long)(1 + ((Math.Clamp(sh, 2UL, 262144UL) - 2) * 9999) / 262142)));
            if (c.Quota is { } q && q != 0) Write(d, "cpu.max", (q < 0 ? "max" : N(q)) + " " + N((long)(c.Period ?? 100000)));
            if (c.Burst is { } bu) Require(d, "cpu.max.burst", N((long)bu), "linux.resources.cpu.burst");
            if (c.Idle is { } idle) Require(d, "cpu.idle", N(idle), "linux.resources.cpu.idle");
            if (c.RealtimePeriod is > 0 || c.RealtimeRuntime is { } and not 0)
                throw new RtException("linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no real-time CPU budget; refusing to run the container without it");
        }
        if (r.Memory is { KernelTcp: { } kt2 } && kt2 != 0)
            throw new RtException("linux.resources.memory.kernelTCP: cgroup v2 has no kernel TCP memory limit; refusing to run the container without it");
        if (r.Pids is { } pids && pids.Limit > 0) Write(d, "pids.max", N(pids.Limit));
        if (r.Cpu is { } cs)
        {
            if (!string.IsNullOrEmpty(cs.Cpus)) Write(d, "cpuset.cpus", cs.Cpus);
            if (!string.IsNullOrEmpty(cs.Mems)) Write(d, "cpuset.mems", cs.Mems);
        }
        ApplyOthers(r);
    }

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Moves <paramref name="pid"/> into every directory of this cgroup.</summary>
    public void AddProcess(int pid)
    {
        var s = pid.ToString(CultureInfo.InvariantCulture);
        foreach (var d in Directories) Write(d, "cgroup.procs", s);
    }

    /// <summary>Pids in the cgroup (from its first directory).</summary>
    public List<int> Processes()
    {
        var l = new List<int>();
        foreach (var d in Directories)
        {
            try
            {
                foreach (var line in File.ReadAllLines(Path.Combine(d, "cgroup.procs")))
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var p)) l.Add(p);
                return l;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return l;
    }

    /// <summary>How many times the kernel's OOM killer killed a process of this cgroup.</summary>
    public long OomKills()
    {
        foreach (var (file, key) in new[] { ("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill") })
        {
            var d = DirOf(file);
            if (d is null) continue;
            try
            {
                foreach (var line in File.ReadAllLines(Path.Combine(d, file)))
                    if (line.StartsWith(key + " ") && long.TryParse(line.AsSpan(key.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                        return n;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return 0;
    }

    /// <summary>Sends <paramref name="signal"/> to every process in the cgroup.</summary>
    public void Signal(int signal)
    {
        foreach (var p in Processes()) Linux.Libc.Kill(p, signal);
    }

    /// <summary>Kills what is left and removes the directories. Missing directories are fine (idempotent).</summary>
    public void Destroy()
    {
        Thaw(); // a frozen task does not die of SIGKILL until it is thawed
        for (int round = 0; round < 200; round++)
        {
            var procs = Processes();
            if (procs.Count == 0) break;
            foreach (var p in procs) Linux.Libc.Kill(p, Linux.Libc.SIGKILL);
            Thread.Sleep(5);
        }
        foreach (var d in Directories)
        {
            for (int attempt = 0; ; attempt++)
            {
                try { if (Directory.Exists(d)) Directory.Delete(d); break; }
                catch (IOException) when (attempt < 100) { Thread.Sleep(10); }
                catch (IOException e) { throw new RtException($"removing cgroup {d}: {e.Message}"); }
            }
            RemoveDefaultParentIfEmpty(d);
            CgroupAncestors.RemoveUnused(d);
        }
    }

    /// <summary>
    /// The last container out removes the shared default parent (<c>tinyo/</c>), so a host without containers has no
    /// tinyo cgroups at all. rmdir(2) of a cgroup fails unless it has no children, so this never disturbs a running
    /// container; a create racing with it is safe because <see cref="MakeDirs"/> recreates missing parents.
    /// </summary>
    private static void RemoveDefaultParentIfEmpty(string leaf)
    {
        var parent = Path.GetDirectoryName(leaf);
        if (parent is null || Path.GetFileName(parent) != CgroupPath.DefaultParent) return;
        try { Directory.Delete(parent); }
        catch (IOException) { }  // not empty (another container) or already gone
        catch (UnauthorizedAccessException) { }
    }
}
