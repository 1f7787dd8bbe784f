using System.CommandLine;
using WatchEventType = Tinyo.Kv.Mvcc.WatchEventType;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv watch KEY [--prefix] [--rev N] [--prev-kv]: prints events until interrupted.</summary>
internal static class WatchCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("key") { Description = "The key, or the prefix with --prefix" };
        var prefix = new Option<bool>("--prefix") { Description = "Every key starting with KEY" };
        var rev = new Option<long>("--rev") { Description = "Start from this revision (default: now)" };
        var prev = new Option<bool>("--prev-kv") { Description = "Include the previous key-value" };
        var cmd = new Command("watch", "Watch a key or prefix for changes") { key, prefix, rev, prev };
        Common.Run(cmd, async (pr, ct) =>
        {
            var k = Common.Utf8(pr.GetValue(key)!);
            await using var client = Common.Client(pr);
            await foreach (var frame in client.WatchAsync(k, pr.GetValue(prefix) ? RangeRequest.PrefixEnd(k) : null, pr.GetValue(rev), pr.GetValue(prev), ct))
            {
                foreach (var e in frame.Events)
                {
                    if (Common.Json(pr))
                    {
                        Common.PrintJson(new WatchEventJson(e.Type == WatchEventType.Put ? "PUT" : "DELETE", frame.Revision, Common.ToJson(e.Kv),
                            e.PrevKv is null ? null : Common.ToJson(e.PrevKv)), CliJson.Default.WatchEventJson);
                        continue;
                    }
                    Console.WriteLine(e.Type == WatchEventType.Put ? "PUT" : "DELETE");
                    if (e.PrevKv is { } p)
                    {
                        Console.WriteLine(Common.Str(p.Key));
                        Console.WriteLine(Common.Str(p.Value));
                    }
                    Console.WriteLine(Common.Str(e.Kv.Key));
                    if (e.Type == WatchEventType.Put) Console.WriteLine(Common.Str(e.Kv.Value));
                }
            }
            return 0;
        });
        return cmd;
    }
}
