namespace Tinyo.Rt.Processes;

/// <summary>How a container's process ended.</summary>
/// <param name="Code">Exit code as a shell reports it: the process's code, or 128 + the signal that killed it.</param>
/// <param name="Signal">The signal that killed it, 0 if it exited.</param>
/// <param name="OomKilled">Whether the kernel's OOM killer killed a process of the container's cgroup.</param>
public readonly record struct ExitStatus(int Code, int Signal, bool OomKilled);
