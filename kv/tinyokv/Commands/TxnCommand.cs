using System.CommandLine;
using System.Text.RegularExpressions;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>
/// tinyokv txn: reads a transaction from stdin in etcdctl's format — compares, a blank line, success operations,
/// a blank line, failure operations. Compares: <c>value("k") = "v"</c>, <c>version("k") &gt; "0"</c>,
/// <c>create("k") = "0"</c>, <c>mod("k") &lt; "9"</c>, <c>lease("k") = "0"</c> (operators = != &lt; &gt;).
/// Operations: <c>put k v</c>, <c>get k [end]</c>, <c>del k [end]</c>.
/// </summary>
internal static partial class TxnCommand
{
    [GeneratedRegex("""^\s*(value|version|create|mod|lease)\("((?:[^"\\]|\\.)*)"\)\s*(=|!=|<|>)\s*"((?:[^"\\]|\\.)*)"\s*$""")]
    private static partial Regex CompareLine();

    public static Command Create()
    {
        var cmd = new Command("txn", "Run a transaction read from stdin (etcdctl's format)");
        Common.Run(cmd, async (pr, ct) =>
        {
            var text = await Console.In.ReadToEndAsync(ct);
            var txn = Parse(text);
            await using var client = Common.Client(pr);
            var resp = await client.TxnAsync(txn, ct);
            if (Common.Json(pr))
            {
                Common.PrintJson(new WriteJson(resp.Revision, Succeeded: resp.Succeeded), CliJson.Default.WriteJson);
                return 0;
            }
            Console.WriteLine(resp.Succeeded ? "SUCCESS" : "FAILURE");
            foreach (var r in resp.Responses)
            {
                Console.WriteLine();
                if (r.Put is not null) Console.WriteLine("OK");
                else if (r.Delete is { } d) Console.WriteLine(d.Deleted);
                else if (r.Range is { } g)
                {
                    foreach (var kv in g.Kvs)
                    {
                        Console.WriteLine(Common.Str(kv.Key));
                        Console.WriteLine(Common.Str(kv.Value));
                    }
                }
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>Parses the stdin format; throws <see cref="KvException"/> naming the bad line.</summary>
    internal static TxnRequest Parse(string text)
    {
        var sections = new List<List<string>> { new(), new(), new() };
        var section = 0;
        foreach (var raw in text.Replace("\r", "").Split('\n'))
        {
            if (raw.Trim().Length == 0)
            {
                // A blank line ends a section (compares, then success, then failure).
                if (++section > 2) break;
                continue;
            }
            sections[section].Add(raw.Trim());
        }
        var compares = sections[0].Select(ParseCompare).ToList();
        return new TxnRequest(compares, sections[1].Select(ParseOp).ToList(), sections[2].Select(ParseOp).ToList());
    }

    private static Compare ParseCompare(string line)
    {
        var m = CompareLine().Match(line);
        if (!m.Success) throw new KvException($"bad compare '{line}': expected e.g. mod(\"key\") = \"5\"");
        var key = Common.Utf8(Regex.Unescape(m.Groups[2].Value));
        var operand = Regex.Unescape(m.Groups[4].Value);
        var result = m.Groups[3].Value switch
        {
            "=" => CompareResult.Equal,
            "!=" => CompareResult.NotEqual,
            "<" => CompareResult.Less,
            _ => CompareResult.Greater,
        };
        var target = m.Groups[1].Value switch
        {
            "value" => CompareTarget.Value,
            "version" => CompareTarget.Version,
            "create" => CompareTarget.Create,
            "mod" => CompareTarget.Mod,
            _ => CompareTarget.Lease,
        };
        if (target == CompareTarget.Value) return new Compare(key, target, result, Value: Common.Utf8(operand));
        if (!long.TryParse(operand, out var n)) throw new KvException($"bad compare '{line}': '{operand}' is not a number");
        return new Compare(key, target, result, n);
    }

    private static TxnOp ParseOp(string line)
    {
        var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        return parts switch
        {
            ["put", var k, var v] => new TxnOp(Put: new PutRequest(Common.Utf8(k), Common.Utf8(v))),
            ["get", var k] => new TxnOp(Range: new RangeRequest(Common.Utf8(k))),
            ["get", var k, var e] => new TxnOp(Range: new RangeRequest(Common.Utf8(k), Common.Utf8(e))),
            ["del", var k] => new TxnOp(Delete: new DeleteRangeRequest(Common.Utf8(k))),
            ["del", var k, var e] => new TxnOp(Delete: new DeleteRangeRequest(Common.Utf8(k), Common.Utf8(e))),
            _ => throw new KvException($"bad operation '{line}': expected put KEY VALUE, get KEY [END] or del KEY [END]"),
        };
    }
}
