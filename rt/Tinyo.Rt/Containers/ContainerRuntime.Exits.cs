using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

// Exit records: the one place an exit code, signal and OOM verdict are written and read.
public sealed partial class ContainerRuntime
{
    /// <summary>
    /// The one call an embedding supervisor (tinyonode) makes when a container's process has ended, whoever its
    /// parent was: reaps it when it is this process's child, otherwise records <paramref name="foreignStatus"/> (a
    /// wait status read from a pidfd once the host's pid 1 reaped it, see <see cref="ExitInfo"/>) when it is of the
    /// recorded process; then removes the stopped container's cgroup (after the OOM verdict was read from it).
    /// Returns the recorded exit — the single source of exit codes — or null when none is known (the container is
    /// gone, still running, or a foreign reaper left no status).
    /// </summary>
    public unsafe ExitStatus? CollectExit(string id, (int Pid, int Status)? foreignStatus = null)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { return null; }
        if (rec.ExitCode is null && rec.Pid > 0)
        {
            int st = 0;
            if (WaitPid(rec.Pid, &st, WNOHANG) == rec.Pid) RecordExitIn(dir, id, rec.Pid, rec.PidStartTime, st);
            else if (foreignStatus is { } f && f.Pid == rec.Pid) RecordExitIn(dir, id, f.Pid, null, f.Status);
        }
        try
        {
            ReleaseCgroup(id);
            return ExitOf(id);
        }
        catch (RtException)
        {
            return null; // removed meanwhile
        }
    }

    /// <summary>
    /// Records the exit status of every container whose process is this process's child and has ended (waitpid with
    /// WNOHANG on each recorded pid). A subreaper embedding the runtime (tinyonode) calls it on SIGCHLD, so detached
    /// containers keep their exit code and OOM verdict after they stop; see <see cref="ExitOf"/>. Returns how many
    /// exits it recorded.
    /// </summary>
    public unsafe int ReapExited()
    {
        int n = 0;
        if (!Directory.Exists(_root.Containers)) return 0;
        foreach (var d in Directory.GetDirectories(_root.Containers))
        {
            ContainerRecord rec;
            try { rec = ContainerRecord.Load(d, Path.GetFileName(d)); }
            catch (RtException) { continue; }
            if (rec.ExitCode is not null || rec.Pid <= 0) continue;
            int st = 0;
            if (WaitPid(rec.Pid, &st, WNOHANG) != rec.Pid) continue; // still running, or not our child
            if (RecordExitIn(d, rec.Id, rec.Pid, rec.PidStartTime, st) is not null) n++;
        }
        return n;
    }

    /// <summary>
    /// Records how a container's process ended — exit code, signal, and the OOM verdict read from its cgroup — in
    /// its state, unless the state is of another process by now (<paramref name="pid"/> and, when given,
    /// <paramref name="startTime"/> must match the record: the container may have been deleted and made again, or
    /// restarted) or holds an exit already. The exit monitor (<see cref="ExitMonitor"/>) and tinyonode, for
    /// containers it re-adopted, call it with a wait status read from a pidfd (<see cref="ExitInfo"/>). Returns
    /// whether it recorded.
    /// </summary>
    public bool RecordExit(string id, int pid, ulong? startTime, int waitStatus)
    {
        Bundle.ValidateId(id);
        return RecordExitIn(Dir(id), id, pid, startTime, waitStatus) is not null;
    }

    /// <summary><see cref="RecordExit"/> on a state directory, under its lock (a restart saving a new record, or a
    /// delete, may run at the same moment in another process).</summary>
    internal static ExitStatus? RecordExitIn(string dir, string id, int pid, ulong? startTime, int waitStatus)
    {
        using var held = ContainerRecord.Lock(dir);
        if (held is null) return null; // deleted meanwhile
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { return null; }
        if (rec.Pid != pid || (startTime is { } t && rec.PidStartTime != t) || rec.ExitCode is not null) return null;
        var (code, sig) = DecodeWaitStatus(waitStatus);
        // The cgroup's oom_kill counter tells an OOM kill from any other SIGKILL (it outlives the processes; the
        // directory is removed only by delete or ReleaseCgroup).
        bool oom = sig == SIGKILL && Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).OomKills() > 0;
        rec.ExitCode = code;
        rec.ExitSignal = sig;
        rec.OomKilled = oom;
        try { rec.Save(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // removed meanwhile
        return new ExitStatus(code, sig, oom);
    }

    /// <summary>
    /// Has the exit of a container whose process this process started (and has not reaped) recorded after this
    /// process exits: takes a pidfd of the process and hands it to the root's exit monitor
    /// (<see cref="ExitMonitor"/>), starting the monitor when none answers. For detached starts from a CLI that
    /// exits right away (<c>run -d</c>, <c>create</c>); an embedding daemon that reaps its own children does not
    /// need it. Returns false (with a warning) when no monitor took it; true also when there is nothing to do (a
    /// kernel before 6.15, where the exit code stays unknown, or <c>TINYO_EXIT_MONITOR=0</c>).
    /// </summary>
    public bool WatchExit(string id)
    {
        Bundle.ValidateId(id);
        return WatchExit(ContainerRecord.Load(Dir(id), id));
    }

    /// <summary><see cref="WatchExit(string)"/> for a container just launched by this process.</summary>
    public bool WatchExit(Launched c) => WatchExit(c.Record);

    private bool WatchExit(ContainerRecord rec)
    {
        var err = ExitMonitor.Hand(_root, InitCommand, rec.Id, rec.Pid, rec.PidStartTime);
        if (err is not null) _o.Warn?.Invoke($"container {rec.Id}: its exit code will not be recorded: {err}");
        return err is null;
    }

    /// <summary>
    /// Removes the cgroup of a stopped container that is kept (an orchestrator's exited container waiting for its
    /// restart or removal), as <see cref="Launched.Wait"/> does for its own: no empty cgroups stay behind on the
    /// host. Nothing to do when the container runs, is gone, or has no cgroup left.
    /// </summary>
    public void ReleaseCgroup(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { return; }
        if (rec.Status(dir) != "stopped") return;
        Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).Destroy();
    }

    /// <summary>The recorded exit of a stopped container, or null when no reaper recorded one.</summary>
    public ExitStatus? ExitOf(string id)
    {
        Bundle.ValidateId(id);
        var rec = ContainerRecord.Load(Dir(id), id);
        return rec.ExitCode is { } c ? new ExitStatus(c, rec.ExitSignal ?? 0, rec.OomKilled ?? false) : null;
    }

}
