namespace Tinyo.Ctl.Setup;

/// <summary>
/// A node's two daemons, however they run. <see cref="Start"/> uses the mode asked for; <see cref="Find"/> and
/// <see cref="Stop"/> look at both — the pid file and, when systemd is the init system, this root's unit — so a node
/// started one way is reported and stopped whatever the mode of a later command.
/// </summary>
public sealed class NodeDaemons(NodeLayout layout, SystemdUnits units, bool systemdRunning)
{
    /// <summary>Where a running daemon is: its pid, and its unit when systemd runs it.</summary>
    /// <param name="Pid">The (main) process; 0 for a unit between a crash and its restart.</param>
    /// <param name="Unit">The systemd unit, or null for a detached process.</param>
    public sealed record Daemon(int Pid, string? Unit)
    {
        /// <inheritdoc/>
        public override string ToString() => Unit is null ? $"pid {Pid}" : Pid == 0 ? $"unit {Unit}, restarting" : $"unit {Unit}, pid {Pid}";
    }

    /// <summary>One stopped daemon, for the report.</summary>
    /// <param name="Daemon">What ran.</param>
    /// <param name="Killed">True when it had to be killed after the grace period.</param>
    public sealed record Stopped(Daemon Daemon, bool Killed);

    /// <summary>The detached-process side.</summary>
    public Supervisor Processes { get; } = new(layout);

    /// <summary>The unit files.</summary>
    public SystemdUnits Units => units;

    /// <summary>True when systemd is the init system here (units are started and asked about).</summary>
    public bool SystemdRunning => systemdRunning;

    /// <summary>The running daemon of this root, or null.</summary>
    public Daemon? Find(string component)
    {
        if (Processes.Running(component) is { } pid) return new Daemon(pid, null);
        if (systemdRunning && units.Installed(component))
        {
            var unit = units.UnitName(component);
            var state = Systemctl.State(unit);
            if (state.Up) return new Daemon(state.MainPid, unit);
        }
        return null;
    }

    /// <summary>
    /// True when the daemon runs as a unit whose file would now be written differently (other ports, binaries,
    /// flags): the change takes effect at the next start.
    /// </summary>
    public bool UnitOutdated(Daemon running, UnitSpec spec)
        => running.Unit is not null && File.Exists(units.UnitPath(spec.Component))
           && File.ReadAllText(units.UnitPath(spec.Component)) != units.Render(spec);

    /// <summary>
    /// Starts a daemon: detached (pid file, log under the root) or as a unit (written or rewritten, daemon-reload
    /// when it changed, enabled for boot, started). Returns where it runs.
    /// </summary>
    public Daemon Start(ServiceMode mode, UnitSpec spec)
    {
        if (mode == ServiceMode.Process)
            return new Daemon(Processes.Start(spec.Component, spec.Command, spec.Environment), null);
        if (!systemdRunning)
            throw new CtlException($"systemd is not the init system here (no {ServiceModes.SystemdRunDir}): use --supervisor process");
        var unit = units.UnitName(spec.Component);
        if (units.Write(spec)) Systemctl.Run("daemon-reload");
        try
        {
            Systemctl.Run("enable", "--quiet", unit);
            Systemctl.Run("start", unit);
        }
        catch (CtlException e)
        {
            // Not left restarting or enabled (it would fail again at every boot); the file stays for the next attempt.
            var tail = UnitTail(unit);
            Undo(unit);
            var disk = StateDisk.Problem(layout.Root) is { } full ? full + "\n" : ""; // the journal's tail may predate it
            throw new CtlException($"{spec.Component} did not start (journalctl -u {unit}): {disk}{e.Message}{(tail.Length > 0 ? "\n" + tail : "")}");
        }
        return new Daemon(Systemctl.State(unit).MainPid, unit);
    }

    /// <summary>The last lines of a daemon's output: its log file, or the unit's journal.</summary>
    public string LogTail(Daemon daemon, string component)
    {
        return daemon.Unit is null ? Processes.LogTail(component) : UnitTail(daemon.Unit);
    }

    /// <summary>How the unit's process ended (systemd's words), then its last journal lines.</summary>
    private static string UnitTail(string unit)
    {
        var exit = Systemctl.LastExit(unit);
        var journal = Systemctl.JournalTail(unit);
        return exit.Length == 0 ? journal : journal.Length == 0 ? exit : exit + "\n" + journal;
    }

    /// <summary>Where a daemon's output goes, for messages.</summary>
    public string LogPlace(Daemon daemon, string component)
        => daemon.Unit is null ? "log " + layout.LogFile(component) : "journalctl -u " + daemon.Unit;

    /// <summary>
    /// Stops the component however it runs: SIGTERM (a unit through <c>systemctl stop</c>), then after
    /// <paramref name="grace"/> SIGKILL to the main process only (<c>systemctl kill --kill-whom=main</c>: a node's
    /// containers are never signalled by us). A unit is also disabled, so it does not come back at boot; its file
    /// stays for the next <c>tio ++</c> unless <see cref="RemoveUnits"/> follows.
    /// </summary>
    public List<Stopped> Stop(string component, TimeSpan grace)
    {
        var stopped = new List<Stopped>();
        if (Processes.Running(component) is { } pid)
            stopped.Add(new Stopped(new Daemon(pid, null), Processes.Stop(component, pid, grace)));
        if (systemdRunning && units.Installed(component))
        {
            var unit = units.UnitName(component);
            var state = Systemctl.State(unit);
            if (state.ActiveState is not ("inactive" or "failed"))
            {
                Systemctl.Run("stop", "--no-block", unit);
                var killed = false;
                if (!WaitDown(unit, grace))
                {
                    Systemctl.Run("kill", "--kill-whom=main", "--signal=SIGKILL", unit);
                    killed = true;
                    WaitDown(unit, TimeSpan.FromSeconds(5));
                }
                stopped.Add(new Stopped(new Daemon(state.MainPid, unit), killed));
            }
            Systemctl.Run("disable", "--quiet", unit);
            // A unit killed during its stop ends "failed"; that is our doing, not a fault worth keeping on display.
            if (Systemctl.State(unit).ActiveState == "failed") Systemctl.Run("reset-failed", unit);
        }
        return stopped;
    }

    /// <summary>Deletes this root's unit files (after <see cref="Stop"/>); the names of those removed.</summary>
    public List<string> RemoveUnits()
    {
        var removed = new List<string>();
        foreach (var c in (string[])["tinyonode", "tinyokv"])
        {
            if (!units.Installed(c)) continue;
            if (systemdRunning) Systemctl.Run("disable", "--quiet", units.UnitName(c));
            units.Remove(c);
            removed.Add(units.UnitName(c));
        }
        if (removed.Count > 0 && systemdRunning) Systemctl.Run("daemon-reload");
        return removed;
    }

    private static void Undo(string unit)
    {
        try
        {
            // Restart=on-failure has a restart pending (activating): stop cancels it.
            Systemctl.Run("stop", unit);
            Systemctl.Run("disable", "--quiet", unit);
            if (Systemctl.State(unit).ActiveState == "failed") Systemctl.Run("reset-failed", unit);
        }
        catch (CtlException)
        {
            // the original error is the one to report
        }
    }

    private static bool WaitDown(string unit, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (Systemctl.State(unit).ActiveState is "inactive" or "failed") return true;
            if (DateTime.UtcNow >= deadline) return false;
            Thread.Sleep(50);
        }
    }
}
