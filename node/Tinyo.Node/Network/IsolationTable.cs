using System.Diagnostics;

namespace Tinyo.Node.Network;

/// <summary>
/// Applies the <see cref="IsolationRules"/> with <c>nft -f -</c> (Debian's nftables package: <c>make deps</c>). nft is
/// run on changes of cluster networks (a cluster added or removed, egress switched), not per container.
/// </summary>
public static class IsolationTable
{
    /// <summary>
    /// Loads <paramref name="ruleset"/> atomically. <paramref name="netnsPath"/> runs nft inside that network
    /// namespace (tests), else in the node's. A refusal is a <see cref="NodeException"/> with nft's own words.
    /// </summary>
    public static async Task ApplyAsync(string ruleset, string? netnsPath = null, CancellationToken ct = default)
    {
        var (code, err) = await RunAsync(netnsPath, ["-f", "-"], ruleset, ct).ConfigureAwait(false);
        if (code != 0) throw new NodeException($"isolation: nft refused the ruleset: {err.Trim()}");
    }

    /// <summary>Deletes our table; idempotent.</summary>
    public static Task RemoveAsync(string table = IsolationRules.DefaultTable, string? netnsPath = null, CancellationToken ct = default)
        => ApplyAsync(IsolationRules.RenderTeardown(table), netnsPath, ct);

    /// <summary>Whether the table exists.</summary>
    public static async Task<bool> ExistsAsync(string table = IsolationRules.DefaultTable, string? netnsPath = null, CancellationToken ct = default)
    {
        var (code, _) = await RunAsync(netnsPath, ["list", "table", "inet", table], null, ct).ConfigureAwait(false);
        return code == 0;
    }

    private static async Task<(int Code, string Err)> RunAsync(string? netnsPath, string[] args, string? stdin, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(netnsPath is null ? "nft" : "nsenter")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (netnsPath is not null)
        {
            psi.ArgumentList.Add("--net=" + netnsPath);
            psi.ArgumentList.Add("nft");
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new NodeException($"isolation: cannot run nft ({e.Message}); install nftables (make deps)", e);
        }
        using (p)
        {
            if (stdin is not null) await p.StandardInput.WriteAsync(stdin.AsMemory(), ct).ConfigureAwait(false);
            p.StandardInput.Close();
            var err = p.StandardError.ReadToEndAsync(ct);
            await p.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
            return (p.ExitCode, await err.ConfigureAwait(false));
        }
    }
}
