using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv get KEY [RANGE_END] [--prefix]: reads keys, linearizable unless --consistency=s.</summary>
internal static class GetCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("key") { Description = "The key, or the start of the range" };
        var end = new Argument<string?>("range-end") { Description = "End of the range (exclusive)", Arity = ArgumentArity.ZeroOrOne };
        var prefix = new Option<bool>("--prefix") { Description = "Every key starting with KEY" };
        var fromKey = new Option<bool>("--from-key") { Description = "Every key from KEY on" };
        var limit = new Option<long>("--limit") { Description = "At most this many keys" };
        var keysOnly = new Option<bool>("--keys-only") { Description = "Keys without values" };
        var countOnly = new Option<bool>("--count-only") { Description = "Only the number of keys" };
        var consistency = new Option<string>("--consistency") { Description = "l (linearizable) or s (serializable: this member's state)", DefaultValueFactory = _ => "l" };
        consistency.AcceptOnlyFromAmong("l", "s");
        var cmd = new Command("get", "Read a key or a range") { key, end, prefix, fromKey, limit, keysOnly, countOnly, consistency };
        Common.Run(cmd, async (pr, ct) =>
        {
            var k = Common.Utf8(pr.GetValue(key)!);
            byte[]? rangeEnd = pr.GetValue(end) is { } e ? Common.Utf8(e)
                : pr.GetValue(prefix) ? RangeRequest.PrefixEnd(k)
                : pr.GetValue(fromKey) ? [0] : null;
            await using var client = Common.Client(pr);
            var resp = await client.RangeAsync(new RangeRequest(k, rangeEnd, pr.GetValue(limit), pr.GetValue(keysOnly),
                pr.GetValue(countOnly), pr.GetValue(consistency) == "s"), ct);
            if (Common.Json(pr))
            {
                Common.PrintJson(new RangeJson(resp.Revision, resp.Count, resp.More, resp.Kvs.Select(Common.ToJson).ToList()), CliJson.Default.RangeJson);
            }
            else if (pr.GetValue(countOnly))
            {
                Console.WriteLine(resp.Count);
            }
            else
            {
                foreach (var kv in resp.Kvs)
                {
                    Console.WriteLine(Common.Str(kv.Key));
                    if (!pr.GetValue(keysOnly)) Console.WriteLine(Common.Str(kv.Value));
                }
            }
            return 0;
        });
        return cmd;
    }
}
