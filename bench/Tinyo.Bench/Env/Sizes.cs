namespace Tinyo.Bench.Env;

/// <summary>The four NativeAOT binaries' sizes, as a markdown table (goal: ≤ 20 MB together).</summary>
public static class Sizes
{
    public static string Markdown()
    {
        var dir = Path.GetDirectoryName(Peers.Tinyort)!;
        var w = new StringWriter();
        w.WriteLine("| Binary | Size (bytes) | MB (10^6) | MiB |");
        w.WriteLine("|---|---:|---:|---:|");
        long total = 0;
        foreach (var name in new[] { "tio", "tinyonode", "tinyokv", "tinyort" })
        {
            var f = new FileInfo(Path.Combine(dir, name));
            if (!f.Exists) { w.WriteLine($"| {name} | missing | | |"); continue; }
            total += f.Length;
            w.WriteLine($"| {name} | {f.Length} | {f.Length / 1e6:0.0} | {f.Length / 1048576.0:0.0} |");
        }
        w.WriteLine($"| **total** | {total} | {total / 1e6:0.0} | {total / 1048576.0:0.0} |");
        w.WriteLine();
        w.WriteLine($"Goal ≤ 20 MB together: {(total <= 20_000_000 ? "met" : $"not met ({total / 1e6:0.0} MB, {(total - 20_000_000) / 1e6:0.0} MB over)")}.");
        return w.ToString();
    }
}
