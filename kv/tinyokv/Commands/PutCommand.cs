using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv put KEY [VALUE]: sets a key (the value from stdin when omitted).</summary>
internal static class PutCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("key") { Description = "The key" };
        var value = new Argument<string?>("value") { Description = "The value (read from stdin when omitted)", Arity = ArgumentArity.ZeroOrOne };
        var lease = new Option<string?>("--lease") { Description = "Attach the key to this lease (hex id)" };
        var prev = new Option<bool>("--prev-kv") { Description = "Print the previous key-value" };
        var cmd = new Command("put", "Set a key's value") { key, value, lease, prev };
        Common.Run(cmd, async (pr, ct) =>
        {
            byte[] data;
            if (pr.GetValue(value) is { } v) data = Common.Utf8(v);
            else
            {
                using var ms = new MemoryStream();
                await Console.OpenStandardInput().CopyToAsync(ms, ct);
                data = ms.ToArray();
            }
            await using var client = Common.Client(pr);
            var resp = await client.PutAsync(new PutRequest(Common.Utf8(pr.GetValue(key)!), data,
                LeaseCommand.ParseId(pr.GetValue(lease)), pr.GetValue(prev)), ct);
            if (Common.Json(pr))
                Common.PrintJson(new WriteJson(resp.Revision, PrevKvs: resp.PrevKv is null ? null : [Common.ToJson(resp.PrevKv)]), CliJson.Default.WriteJson);
            else
            {
                Console.WriteLine("OK");
                if (resp.PrevKv is { } p)
                {
                    Console.WriteLine(Common.Str(p.Key));
                    Console.WriteLine(Common.Str(p.Value));
                }
            }
            return 0;
        });
        return cmd;
    }
}
