namespace Tinyo.Node.Security;

/// <summary>
/// Slows down password guessing per source address and per user. An address's first <see cref="FreeAttempts"/>
/// failures are free, then each failure locks that address out for 2, 4, 8 … seconds (at most 5 minutes). A user is
/// locked for everyone only after <see cref="FreeUserAttempts"/> failures (guessing spread over many addresses), and an
/// address counts towards that only with its own free attempts: one address failing once per lock window, for ever,
/// cannot keep the user out of anywhere but itself.
/// The node never asks this for root on its unix socket (see NodeApi's login), so nothing reachable over the network
/// can lock the local administrator out. A success clears the user's and the address's records. In memory: a restart
/// forgets it, which costs an attacker a restart of the node they cannot cause.
/// </summary>
public sealed class LoginThrottle(TimeProvider? clock = null)
{
    /// <summary>Failures allowed from one address before delays start.</summary>
    public const int FreeAttempts = 3;

    /// <summary>Failures allowed for one user, from all addresses together, before the user is delayed everywhere.</summary>
    public const int FreeUserAttempts = 20;

    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, (int Failures, DateTimeOffset Until)> state = [];

    /// <summary>When <paramref name="peer"/> may try <paramref name="user"/> again, or null when it may now.</summary>
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
            if (Fail("p:" + peer, FreeAttempts, now) <= FreeAttempts) Fail("u:" + user, FreeUserAttempts, now);
        }
    }

    /// <summary>Counts one more failure for a key; returns its failures so far.</summary>
    private int Fail(string key, int free, DateTimeOffset now)
    {
        var (f, _) = state.GetValueOrDefault(key);
        f++;
        var delay = f <= free ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(300, 2 << Math.Min(f - free - 1, 16)));
        state[key] = (f, now + delay);
        return f;
    }

    /// <summary>Records a success: the user's and the address's failures are forgotten.</summary>
    public void Succeeded(string user, string peer)
    {
        lock (state)
        {
            state.Remove("u:" + user);
            state.Remove("p:" + peer);
        }
    }
}
