using Tinyo.Rt.Cgroups;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

// The OCI verbs on a container that exists: create/start/run, state and list, kill, delete.
public sealed partial class ContainerRuntime
{
    /// <summary>Creates a container (status <c>created</c>): namespaces, cgroup and rootfs are ready, the process
    /// waits for <see cref="Start"/>. Returns its pid.</summary>
    public int Create(string id, string bundleDir) => Launch(id, bundleDir, detached: true).Pid;

    /// <summary>Starts the process of a created container.</summary>
    public void Start(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status != "created") throw new RtException($"container {id} is {status}, not created");
        var fifo = Path.Combine(dir, ContainerRecord.FifoName);
        var hooks = ReadHooks(rec.Bundle);
        var initExe = Oci.Hooks.Any(hooks?.Poststart) ? ExeOf(rec.Pid) : null;
        int fd = SysOpen(fifo, OFlag.WrOnly | OFlag.NonBlock | OFlag.Cloexec, 0);
        if (fd < 0)
        {
            if (Errno is Errno_.ENXIO or Errno_.ENOENT) throw new RtException($"container {id} is not waiting to start (its init is gone)");
            throw Error("opening", fifo);
        }
        try
        {
            if (!SysWriteAll(fd, "0"u8)) throw Error("signalling start on", fifo);
        }
        finally { SysClose(fd); }
        File.Delete(fifo);
        if (initExe is not null) RunPoststart(rec, hooks!, initExe);
    }

    /// <summary>Runs a container in the foreground: create, start, wait; returns how it ended, having removed the
    /// container (state, cgroup; its mounts died with its mount namespace).</summary>
    public ExitStatus Run(string id, string bundleDir, Action<int>? started = null)
    {
        var c = Launch(id, bundleDir, detached: false);
        started?.Invoke(c.Pid);
        return c.Wait();
    }

    /// <summary>The OCI state of a container.</summary>
    public OciState State(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        return ContainerRecord.Load(dir, id).ToState(dir);
    }

    /// <summary>The states of all containers, ordered by id.</summary>
    public List<OciState> List()
    {
        var l = new List<OciState>();
        if (!Directory.Exists(_root.Containers)) return l;
        foreach (var d in Directory.GetDirectories(_root.Containers).Order(StringComparer.Ordinal))
        {
            var id = Path.GetFileName(d);
            try { l.Add(ContainerRecord.Load(d, id).ToState(d)); }
            catch (RtException) { } // an entry being created or deleted right now
        }
        return l;
    }
    /// <summary>Sends <paramref name="signal"/> to the container's process (or, with <paramref name="all"/>, to every
    /// process in its cgroup).</summary>
    public void Kill(string id, int signal, bool all = false)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status == "stopped" && !all) throw new RtException($"container {id} is not running");
        if (all) Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).Signal(signal);
        else if (Libc.Kill(rec.Pid, signal) != 0) throw Error($"kill {id}");
    }

    /// <summary>Deletes a container: refuses a running one unless <paramref name="force"/>, which kills it first.
    /// Afterwards no process, cgroup or state of it remains.</summary>
    public void Delete(string id, bool force = false)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        // runc: `delete --force` of a container that does not exist succeeds (conmon and podman clean up with it).
        if (force && !Directory.Exists(dir)) return;
        if (Directory.Exists(dir) && !File.Exists(Path.Combine(dir, ContainerRecord.FileName)))
        {
            // A create that was killed before it recorded anything: its init died with it (the sync socket closed),
            // so only the directory and, at most, a cgroup at the default path remain.
            if (!force) throw new RtException($"container {id} is incomplete (its creation was interrupted): use --force to remove it");
            var host = _o.Cgroups ?? CgroupHost.Current;
            var rel = CgroupPath.For(id, null);
            var dirs = host.IsV2 ? [Path.Combine(host.V2Root!, rel)] : host.V1.Select(h => Path.Combine(h.MountPoint, rel)).ToList();
            Cgroup.Open(dirs, host.IsV2).Destroy();
            Directory.Delete(dir, recursive: true);
            return;
        }
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status == "running" && !force) throw new RtException($"container {id} is running: stop it first or use --force");
        var hooks = ReadHooks(rec.Bundle);
        Destroy(dir, rec);
        RunPoststop(hooks, id, rec.Bundle, rec.Annotations, _o.Warn);
    }

    private static void Destroy(string dir, ContainerRecord rec)
    {
        if (ContainerRecord.IsAlive(rec.Pid, rec.PidStartTime)) Libc.Kill(rec.Pid, SIGKILL);
        var cg = Cgroup.Open(rec.CgroupDirs, rec.CgroupV2);
        cg.Destroy();
        WaitGone(rec.Pid, rec.PidStartTime);
        using (ContainerRecord.Lock(dir)) Directory.Delete(dir, recursive: true);
    }

    private static unsafe void WaitGone(int pid, ulong start)
    {
        for (int i = 0; i < 400; i++)
        {
            int st;
            WaitPid(pid, &st, WNOHANG); // reaps it when it is our own child (in-process callers)
            if (!ContainerRecord.IsAlive(pid, start)) return;
            Thread.Sleep(5);
        }
    }
}
