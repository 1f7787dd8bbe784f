using System.CommandLine;
using System.Text.Json;
using Tinyo.Api;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio status / tio version.</summary>
internal static class StatusCommand
{
    public static Command Status()
    {
        var output = new Option<string>("--output", "-o") { Description = "text or json", DefaultValueFactory = _ => "text" };
        output.AcceptOnlyFromAmong("text", "json");
        var cmd = new Command("status", "Show the node's status") { output };
        Common.Run(cmd, async (pr, ct) =>
        {
            var s = await Common.Client(pr).StatusAsync(ct);
            if (pr.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(s, ApiJson.Default.NodeStatus));
                return Exit.Ok;
            }
            Console.WriteLine($"node     {s.Node} (tinyonode {s.Version}, up {s.UptimeSeconds}s)");
            Console.WriteLine($"net      {s.Net ?? "-"}");
            Console.WriteLine($"kv       {s.KvEndpoint} (revision {s.KvRevision})");
            Console.WriteLine($"apps     {s.Apps}   users {s.Users}   secrets {s.Secrets}");
            if (s.TlsPin is not null) Console.WriteLine($"tls key  {s.TlsPin} (remote clients: tio login --host tcp://HOST:PORT --fingerprint {s.TlsPin})");
            return Exit.Ok;
        });
        return cmd;
    }

    public static Command Version()
    {
        var cmd = new Command("version", "Print tio's version and, if reachable, the node's");
        Common.Run(cmd, async (pr, ct) =>
        {
            Console.WriteLine($"tio       {typeof(StatusCommand).Assembly.GetName().Version?.ToString(3)}");
            try
            {
                var v = await new Client.NodeClient(Common.Address(pr)) { Timeout = TimeSpan.FromSeconds(3) }.VersionAsync(ct);
                Console.WriteLine($"tinyonode {v.Version} (api {v.Api})");
            }
            catch (Client.NodeUnreachableException)
            {
                Console.WriteLine("tinyonode not reachable");
            }
            return Exit.Ok;
        });
        return cmd;
    }
}
