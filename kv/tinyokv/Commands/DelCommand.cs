using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv del KEY [RANGE_END] [--prefix]: deletes keys and prints how many.</summary>
internal static class DelCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("key") { Description = "The key, or the start of the range" };
        var end = new Argument<string?>("range-end") { Description = "End of the range (exclusive)", Arity = ArgumentArity.ZeroOrOne };
        var prefix = new Option<bool>("--prefix") { Description = "Every key starting with KEY" };
        var fromKey = new Option<bool>("--from-key") { Description = "Every key from KEY on" };
        var prev = new Option<bool>("--prev-kv") { Description = "Print the deleted key-values" };
        var cmd = new Command("del", "Delete a key or a range") { key, end, prefix, fromKey, prev };
        Common.Run(cmd, async (pr, ct) =>
        {
            var k = Common.Utf8(pr.GetValue(key)!);
            byte[]? rangeEnd = pr.GetValue(end) is { } e ? Common.Utf8(e)
                : pr.GetValue(prefix) ? RangeRequest.PrefixEnd(k)
                : pr.GetValue(fromKey) ? [0] : null;
            await using var client = Common.Client(pr);
            var resp = await client.DeleteAsync(new DeleteRangeRequest(k, rangeEnd, pr.GetValue(prev)), ct);
            if (Common.Json(pr))
                Common.PrintJson(new WriteJson(resp.Revision, resp.Deleted, PrevKvs: resp.PrevKvs.Select(Common.ToJson).ToList()), CliJson.Default.WriteJson);
            else
            {
                Console.WriteLine(resp.Deleted);
                foreach (var kv in resp.PrevKvs)
                {
                    Console.WriteLine(Common.Str(kv.Key));
                    Console.WriteLine(Common.Str(kv.Value));
                }
            }
            return 0;
        });
        return cmd;
    }
}
