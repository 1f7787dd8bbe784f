using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>What <see cref="ExitInfo.Read"/> learned from a pidfd.</summary>
public enum ExitRead
{
    /// <summary>The process was reaped; the wait status is known.</summary>
    Exited,
    /// <summary>Still running, or exited but not yet reaped by its parent: ask again later.</summary>
    NotYet,
    /// <summary>The kernel cannot tell (before Linux 6.15): the exit status stays unknown.</summary>
    Unsupported,
    /// <summary>The process is gone and its status with it (or the descriptor is not a pidfd).</summary>
    Lost,
}

/// <summary>
/// The exit status of any process we hold a pidfd to — not only our children — through
/// <c>ioctl(PIDFD_GET_INFO)</c> with <c>PIDFD_INFO_EXIT</c> (Linux ≥ 6.15). The kernel keeps the wait status with the
/// pidfd once whoever is the process's parent has reaped it; until then the answer is <see cref="ExitRead.NotYet"/>.
/// This is how an exit is recorded after the process that started a container has exited (the exit monitor,
/// <see cref="ExitMonitor"/>) and how tinyonode learns the exit of containers it re-adopted after a restart.
/// </summary>
public static class ExitInfo
{
    /// <summary>Whether the running kernel reports exit statuses through pidfds (6.15 or later).</summary>
    public static bool KernelSupports { get; } = Environment.OSVersion.Version >= new Version(6, 15);

    /// <summary>Reads the exit status behind <paramref name="pidfd"/>: on <see cref="ExitRead.Exited"/>,
    /// <paramref name="waitStatus"/> is as waitpid(2) reports it (decode with <see cref="Decode"/>).</summary>
    public static unsafe ExitRead Read(int pidfd, out int waitStatus)
    {
        waitStatus = 0;
        if (!KernelSupports) return ExitRead.Unsupported;
        var info = new PidfdInfo { Mask = PIDFD_INFO_EXIT };
        int rc = PidfdGetInfo(pidfd, &info);
        var r = Map(rc, rc == 0 ? 0 : Errno, info.Mask);
        if (r == ExitRead.Exited) waitStatus = info.ExitCode;
        return r;
    }

    /// <summary>Maps the ioctl's outcome: success with the exit bit set, success without it (alive or not yet
    /// reaped), or the errno of a kernel that lacks the call (ENOTTY before pidfs, EINVAL for an unknown request),
    /// ESRCH for a process reaped without its status kept.</summary>
    internal static ExitRead Map(int rc, int errno, ulong mask)
    {
        if (rc == 0) return (mask & PIDFD_INFO_EXIT) != 0 ? ExitRead.Exited : ExitRead.NotYet;
        return errno switch
        {
            ENOTTY or Errno_.EINVAL or Errno_.ENOSYS or EOPNOTSUPP => ExitRead.Unsupported,
            _ => ExitRead.Lost,
        };
    }

    /// <summary>The exit code (or 128 + signal) and signal of a wait status.</summary>
    public static (int Code, int Signal) Decode(int waitStatus) => DecodeWaitStatus(waitStatus);

    /// <summary>
    /// Waits (asynchronously, polling every <paramref name="poll"/>) until the process behind
    /// <paramref name="pidfd"/> — which has exited — is reaped, and returns its wait status; null when it stays
    /// unknown: the kernel cannot tell, the bound <paramref name="timeout"/> passed, or the process is the caller's
    /// own child (the caller reaps it with waitpid and learns the status there; waiting here would never end).
    /// The descriptor stays open.
    /// </summary>
    public static async Task<int?> WaitReapedAsync(int pidfd, TimeSpan poll, TimeSpan timeout, CancellationToken ct = default)
    {
        var end = DateTime.UtcNow + timeout;
        while (true)
        {
            switch (Read(pidfd, out int ws))
            {
                case ExitRead.Exited: return ws;
                case ExitRead.Unsupported or ExitRead.Lost: return null;
            }
            if (IsOwnExitedChild(pidfd) || DateTime.UtcNow >= end) return null;
            try { await Task.Delay(poll, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return null; }
        }
    }
}
