using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio metrics token [--new]: the cluster's read-only token for <c>/metrics</c> (Prometheus'
/// <c>authorization: {credentials: TOKEN}</c>); admins only. --new replaces it on every node.
/// </summary>
internal static class MetricsCommand
{
    public static Command Create()
    {
        var rotate = new Option<bool>("--new") { Description = "Make a new token; the old one stops working (on every node within 5 s)" };
        var token = new Command("token", "Print the read-only token Prometheus scrapes /metrics with (made on first use; admins only)") { rotate };
        Common.Run(token, async (pr, ct) =>
        {
            var t = await Common.Client(pr).MetricsTokenAsync(pr.GetValue(rotate), ct);
            Console.WriteLine(t.Token);
            return Exit.Ok;
        });
        return new Command("metrics", "Prometheus metrics: each node serves GET /metrics (tio ++ --metrics-listen ADDR:PORT for a plain-HTTP scrape address)") { token };
    }
}
