using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv get KEY [RANGE_END] [--prefix]: reads keys, linearizable unless --consistency=s.</summary>
internal static class GetCommand
{
    public static Command Create()
    {
        var range = new KeyRangeArgs();
        var limit = new Option<long>("--limit") { Description = "At most this many keys" };
        var keysOnly = new Option<bool>("--keys-only") { Description = "Keys without values" };
        var countOnly = new Option<bool>("--count-only") { Description = "Only the number of keys" };
        var consistency = new Option<string>("--consistency") { Description = "l (linearizable) or s (serializable: this member's state)", DefaultValueFactory = _ => "l" };
        consistency.AcceptOnlyFromAmong("l", "s");
        var rev = new Option<long>("--rev") { Description = "Read the keys as they were at this past revision (within the history this member holds)" };
        var cmd = new Command("get", "Read a key or a range") { limit, keysOnly, countOnly, consistency, rev };
        range.AddTo(cmd);
        Common.Run(cmd, async (pr, ct) =>
        {
            var (k, rangeEnd) = range.Resolve(pr);
            if (pr.GetValue(rev) < 0) throw new KvException("--rev must be positive");
            await using var client = Common.Client(pr);
            var resp = await client.RangeAsync(new RangeRequest(k, rangeEnd, pr.GetValue(limit), pr.GetValue(keysOnly),
                pr.GetValue(countOnly), pr.GetValue(consistency) == "s", pr.GetValue(rev)), ct);
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
