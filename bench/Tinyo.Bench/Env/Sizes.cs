using System.Text;
using Tinyo.Linux;

namespace Tinyo.Bench.Env;

/// <summary>
/// The binaries' sizes on disk, as a markdown table (issue 16's goal: the four together ≤ 25 MiB). Since the
/// multi-call build, <c>tio</c>, <c>tinyonode</c>, <c>tinyokv</c> and <c>tinyort</c> are hard links of one file,
/// <c>tinyo</c>: a file is counted once however many names it has (by device and inode), as `make sizes` does.
/// </summary>
public static class Sizes
{
    public static string Markdown()
    {
        var dir = Path.GetDirectoryName(Peers.Tinyort)!;
        var w = new StringWriter();
        w.WriteLine("| Binary | Size (bytes) | MB (10^6) | MiB |");
        w.WriteLine("|---|---:|---:|---:|");
        long total = 0;
        var seen = new Dictionary<(uint, uint, ulong), string>();
        foreach (var name in new[] { "tinyo", "tio", "tinyonode", "tinyokv", "tinyort" })
        {
            var path = Path.Combine(dir, name);
            if (Libc.StatxAt(Libc.FileSys.AT_FDCWD, Encoding.UTF8.GetBytes(path + "\0"), 0, out var st) != 0)
            {
                if (name != "tinyo") w.WriteLine($"| {name} | missing | | |");
                continue;
            }
            var key = (st.DevMajor, st.DevMinor, st.Ino);
            if (seen.TryGetValue(key, out var first))
            {
                w.WriteLine($"| {name} | hard link of {first} | | |");
                continue;
            }
            seen[key] = name;
            long size = (long)st.Size;
            total += size;
            w.WriteLine($"| {name} | {size} | {size / 1e6:0.0} | {size / 1048576.0:0.0} |");
        }
        w.WriteLine($"| **total** (each file once) | {total} | {total / 1e6:0.0} | {total / 1048576.0:0.0} |");
        w.WriteLine();
        const long goal = 25L << 20;
        w.WriteLine($"Goal ≤ 25 MiB together: {(total <= goal ? "met" : $"not met ({total / 1048576.0:0.0} MiB, {(total - goal) / 1048576.0:0.0} MiB over)")}.");
        return w.ToString();
    }
}
