namespace Tinyo.Ctl.Setup;

/// <summary>What a daemon's systemd unit runs: the same command line the process mode would start.</summary>
/// <param name="Component">tinyokv or tinyonode.</param>
/// <param name="Command">Absolute executable, then its arguments.</param>
/// <param name="Environment">Variables for the daemon (systemd starts services with a clean environment).</param>
/// <param name="After">Units to start after (and want): tinyonode names tinyokv's.</param>
/// <param name="KeepChildren">
/// On stop or crash signal only the main process (<c>KillMode=process</c>): tinyonode's containers are its children
/// and must outlive it, as they do in the process mode.
/// </param>
public sealed record UnitSpec(
    string Component,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyList<string> After,
    bool KeepChildren);
