namespace Tinyo.Node.Security;

/// <summary>
/// Slows down password guessing, per user and per peer: the first <see cref="FreeAttempts"/> failures are free,
/// then each failure locks the key out for 2, 4, 8 … seconds (at most 5 minutes). A success clears the user's
/// record. In memory: a restart forgets it, which costs an attacker a restart of the node they cannot cause.
/// </summary>
public sealed class LoginThrottle(TimeProvider? clock = null)
{
    /// <summary>Failures allowed before delays start.</summary>
    public const int FreeAttempts = 3;

    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, (int Failures, DateTimeOffset Until)> state = [];

    /// <summary>When the key may try again, or null when it may now.</summary>
    public TimeSpan? RetryAfter(string user, string peer)
    {
        var now = clock.GetUtcNow();
        lock (state)
        {
            var wait = TimeSpan.Zero;
            foreach (var k in (string[])["u:" + user, "p:" + peer])
                if (state.TryGetValue(k, out var s) && s.Until > now && s.Until - now > wait) wait = s.Until - now;
            return wait > TimeSpan.Zero ? wait : null;
        }
    }

    /// <summary>Records a failed attempt.</summary>
    public void Failed(string user, string peer)
    {
        var now = clock.GetUtcNow();
        lock (state)
        {
            if (state.Count > 100_000) state.Clear(); // bounded memory under a flood of distinct names
            foreach (var k in (string[])["u:" + user, "p:" + peer])
            {
                var (f, _) = state.GetValueOrDefault(k);
                f++;
                var delay = f <= FreeAttempts ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(300, 2 << Math.Min(f - FreeAttempts - 1, 16)));
                state[k] = (f, now + delay);
            }
        }
    }

    /// <summary>Records a success: the user's failures are forgotten (the peer's are not).</summary>
    public void Succeeded(string user)
    {
        lock (state) state.Remove("u:" + user);
    }
}
