using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv del KEY [RANGE_END] [--prefix]: deletes keys and prints how many.</summary>
internal static class DelCommand
{
    public static Command Create()
    {
        var range = new KeyRangeArgs();
        var prev = new Option<bool>("--prev-kv") { Description = "Print the deleted key-values" };
        var cmd = new Command("del", "Delete a key or a range") { prev };
        range.AddTo(cmd);
        Common.Run(cmd, async (pr, ct) =>
        {
            var (k, rangeEnd) = range.Resolve(pr);
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
