using System.Diagnostics;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// A node leaving its cluster's KV group (issue 14): <c>tio down</c> of a node of a mesh takes its tinyokv out of the
/// Raft configuration before stopping it, so the nodes that stay count their majority without it and the last one can
/// still commit (and shut down cleanly). Done through <c>tinyokv member list|leave|promote</c> with the node's own
/// cluster identity (mutual TLS) and KV token, against its own member's client address. The leave marks the root
/// (<see cref="LeftMark"/>): the KV data there no longer belongs to the group, and <c>tio ++</c> says so instead of
/// starting a member the group has forgotten.
/// </summary>
public sealed class KvMembership(NodeLayout layout)
{
    /// <summary>The file that says this root's tinyokv left its group (its text: when, and how to come back).</summary>
    public string LeftMark => Path.Combine(layout.Root, "kv.left");

    private string Pki(string file) => Path.Combine(layout.Root, "pki", file);

    /// <summary>True when this root belongs to a cluster (it has a node certificate: the KV speaks mutual TLS).</summary>
    public bool Clustered => File.Exists(Pki("node.crt")) && File.Exists(Pki("node.key")) && File.Exists(Pki("ca.crt"));

    /// <summary>The client address (ip:port) a running tinyokv listens on, from its command line; null when unknown.</summary>
    public static string? ClientAddress(int pid)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            var i = Array.IndexOf(args, "--listen-client");
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>One member as <c>tinyokv member list</c> prints it.</summary>
    public sealed record Member(string Name, string ClientAddress, bool Learner);

    /// <summary>The group's members (voters and learners), asked at <paramref name="endpoint"/>.</summary>
    public async Task<List<Member>> ListAsync(string endpoint, CancellationToken ct)
    {
        var (code, output, err) = await RunAsync(["member", "list"], endpoint, TimeSpan.FromSeconds(15), ct).ConfigureAwait(false);
        if (code != 0) throw new CtlException($"tinyokv member list: {err.Trim()}");
        var list = new List<Member>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(", ");
            if (f.Length >= 4) list.Add(new Member(f[0], f[2], f.Contains("learner")));
        }
        return list;
    }

    /// <summary>
    /// Leaves the group from the member at <paramref name="endpoint"/> (it steps down if it leads, the new leader
    /// removes it, it stops); then promotes a learner, if there is one, so the group keeps its number of voters.
    /// Returns what happened, for the user; null when there was nothing to leave (the last voter, or no group).
    /// </summary>
    public async Task<string?> LeaveAsync(string endpoint, string self, CancellationToken ct)
    {
        var members = await ListAsync(endpoint, ct).ConfigureAwait(false);
        var others = members.Where(m => !m.Learner && m.Name != self).ToList();
        if (others.Count == 0) return null; // the last voter: stopping it is all there is
        var (code, _, err) = await RunAsync(["member", "leave"], endpoint, TimeSpan.FromSeconds(45), ct).ConfigureAwait(false);
        if (code != 0) throw new CtlException($"tinyokv member leave: {err.Trim()}");
        File.WriteAllText(LeftMark, $"left the KV group at {DateTimeOffset.UtcNow:O} (tio down)\n");
        var note = $"left the KV group ({others.Count} voter(s) stay)";
        if (members.FirstOrDefault(m => m.Learner) is { } learner)
        {
            var (pc, _, perr) = await RunAsync(["member", "promote", learner.Name], others[0].ClientAddress, TimeSpan.FromSeconds(130), ct).ConfigureAwait(false);
            note += pc == 0 ? $"; learner {learner.Name} promoted to a voter" : $"; learner {learner.Name} not promoted: {perr.Trim()}";
        }
        return note;
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(string[] args, string endpoint, TimeSpan limit, CancellationToken ct)
    {
        var cmd = Supervisor.Locate("tinyokv", "TINYO_KV_BIN");
        var psi = new ProcessStartInfo(cmd[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in cmd.Skip(1).Concat(args).Concat(["--endpoints", endpoint, "--token-file", layout.KvToken,
                     "--cacert", Pki("ca.crt"), "--cert", Pki("node.crt"), "--key", Pki("node.key")]))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new CtlException("cannot start tinyokv");
        var o = p.StandardOutput.ReadToEndAsync(ct);
        var e = p.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(limit);
        try
        {
            await p.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill();
            throw new CtlException($"tinyokv {string.Join(' ', args)}: no answer within {limit.TotalSeconds:0} s");
        }
        return (p.ExitCode, await o.ConfigureAwait(false), await e.ConfigureAwait(false));
    }
}
