using System.CommandLine;
using System.Globalization;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv lease grant|revoke|keep-alive|list.</summary>
internal static class LeaseCommand
{
    public static long ParseId(string? hex)
    {
        if (hex is null) return 0;
        if (!long.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var id) || id <= 0)
            throw new KvException($"bad lease id '{hex}': expected a hex number");
        return id;
    }

    public static Command Create()
    {
        var cmd = new Command("lease", "Grant, revoke, keep alive or list leases");

        var ttl = new Argument<long>("ttl") { Description = "Time to live, seconds" };
        var grant = new Command("grant", "Grant a lease") { ttl };
        Common.Run(grant, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var (id, t) = await client.LeaseGrantAsync(pr.GetValue(ttl), ct: ct);
            if (Common.Json(pr)) Common.PrintJson(new LeaseJson(id.ToString("x", CultureInfo.InvariantCulture), t), CliJson.Default.LeaseJson);
            else Console.WriteLine($"lease {id:x} granted with TTL({t}s)");
            return 0;
        });

        var id = new Argument<string>("id") { Description = "Lease id (hex)" };
        var revoke = new Command("revoke", "Revoke a lease, deleting its keys") { id };
        Common.Run(revoke, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            await client.LeaseRevokeAsync(ParseId(pr.GetValue(id)), ct);
            Console.WriteLine($"lease {pr.GetValue(id)} revoked");
            return 0;
        });

        var once = new Option<bool>("--once") { Description = "Refresh once and exit" };
        var keep = new Command("keep-alive", "Keep a lease alive (every TTL/3 until interrupted)") { id, once };
        Common.Run(keep, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var leaseId = ParseId(pr.GetValue(id));
            while (true)
            {
                var t = await client.LeaseKeepAliveAsync(leaseId, ct);
                Console.WriteLine($"lease {leaseId:x} keepalived with TTL({t})");
                if (pr.GetValue(once)) return 0;
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, t / 3.0)), ct);
            }
        });

        var list = new Command("list", "List leases");
        Common.Run(list, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var leases = await client.LeaseListAsync(ct);
            if (Common.Json(pr))
                Common.PrintJson(leases.Select(l => new LeaseJson(l.Id.ToString("x", CultureInfo.InvariantCulture), l.Ttl)).ToList(), CliJson.Default.ListLeaseJson);
            else
                foreach (var (i, t) in leases) Console.WriteLine($"{i:x} TTL({t}s)");
            return 0;
        });

        cmd.Subcommands.Add(grant);
        cmd.Subcommands.Add(revoke);
        cmd.Subcommands.Add(keep);
        cmd.Subcommands.Add(list);
        return cmd;
    }
}
