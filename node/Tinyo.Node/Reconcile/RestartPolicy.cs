namespace Tinyo.Node.Reconcile;

/// <summary>
/// When an exited container is started again (the statefile's <c>restart</c>): <c>always</c> (default),
/// <c>on-failure</c> (exit code ≠ 0, or unknown) or <c>never</c>. The exit code of a container re-adopted from a
/// previous tinyonode (not our child) is read from its pidfd (Linux ≥ 6.15); it is unknown on older kernels, or
/// when the node was down while the container stopped: counted as a failure.
/// </summary>
internal static class RestartPolicy
{
    public const string Always = "always", OnFailure = "on-failure", Never = "never";

    /// <summary>Whether a container that ended with <paramref name="exitCode"/> (null: unknown) is started again.</summary>
    public static bool ShouldRestart(string policy, int? exitCode) => policy switch
    {
        Never => false,
        OnFailure => exitCode is not 0,
        _ => true,
    };
}

/// <summary>
/// Exponential restart delay: 100 ms, doubling per consecutive restart, capped at 30 s; a container that ran for
/// 10 s or more counts as healthy again and its next restart waits the initial 100 ms.
/// </summary>
internal sealed class Backoff
{
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100), Cap = TimeSpan.FromSeconds(30), Reset = TimeSpan.FromSeconds(10);
    private int failures;

    /// <summary>The delay before the next restart of a container that ran for <paramref name="ran"/>.</summary>
    public TimeSpan Next(TimeSpan ran)
    {
        if (ran >= Reset) failures = 0;
        var d = Initial * Math.Pow(2, Math.Min(failures, 20));
        failures++;
        return d > Cap ? Cap : d;
    }

    /// <summary>Back to the initial delay.</summary>
    public void Clear() => failures = 0;
}
