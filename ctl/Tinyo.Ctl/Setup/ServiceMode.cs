namespace Tinyo.Ctl.Setup;

/// <summary>How <c>tio ++</c> runs a node's daemons.</summary>
public enum ServiceMode
{
    /// <summary>Detached processes with pid files and logs under the root (<see cref="Supervisor"/>).</summary>
    Process,

    /// <summary>systemd units (<see cref="SystemdUnits"/>): restarted on failure, started at boot, logs in the journal.</summary>
    Systemd,
}

/// <summary>Chooses the <see cref="ServiceMode"/>: <c>auto</c> (the default), <c>systemd</c> or <c>process</c>.</summary>
public static class ServiceModes
{
    /// <summary>
    /// The directory systemd creates at boot when it is the init system; sd_booted(3) tests exactly this, so a
    /// systemd merely installed (as on a container host whose PID 1 is something else) does not count.
    /// </summary>
    public const string SystemdRunDir = "/run/systemd/system";

    /// <summary>The accepted names, for the option's completion and validation.</summary>
    public static readonly string[] Names = ["auto", "systemd", "process"];

    /// <summary>
    /// <c>systemd</c> or <c>process</c> as asked; <c>auto</c> (or nothing) is systemd when <paramref name="runDir"/>
    /// exists (sd_booted semantics), else process. Null for an unknown name.
    /// </summary>
    public static ServiceMode? Resolve(string? choice, string runDir = SystemdRunDir) => choice switch
    {
        null or "" or "auto" => Directory.Exists(runDir) ? ServiceMode.Systemd : ServiceMode.Process,
        "systemd" => ServiceMode.Systemd,
        "process" => ServiceMode.Process,
        _ => null,
    };
}
