using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Setup;

/// <summary>
/// The init back-end: <c>tinyort init</c>, a fresh image of the runtime exec'd as the container's pid 1, builds the
/// plan from the configuration it received and applies each step on its main thread (the thread that execs), through
/// <see cref="ISetupCalls"/>. It does what rows cannot: wait for <c>start</c>, run hooks, set up a terminal, write
/// sysctls, create <c>linux.devices</c>, look inside the container (masked paths elsewhere than /proc and /sys).
/// The launch steps (namespaces joined by path) already ran in its clone child before it was exec'd.
/// </summary>
internal static class InitBackend
{
    /// <summary>Applies every step of <paramref name="plan"/>; the last one execs, so this returns only by throwing
    /// (or, with a fake <paramref name="calls"/>, after the exec step was recorded).</summary>
    public static void Run(SetupPlan plan, InitConfig c, ISetupCalls calls, int syncFd)
    {
        var ctx = new InitContext { Config = c, Calls = calls, SyncFd = syncFd };
        foreach (var step in plan.Steps) step.Apply(ctx);
    }
}
