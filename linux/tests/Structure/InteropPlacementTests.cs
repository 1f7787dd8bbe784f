using System.Text.RegularExpressions;

namespace Tinyo.Linux.Tests.Structure;

/// <summary>Every libc import lives in Tinyo.Linux, declared once: no other project declares a P/Invoke.</summary>
public partial class InteropPlacementTests
{
    [GeneratedRegex(@"\[\s*(?:[\w.]+\.)?(?:DllImport|LibraryImport)(?:Attribute)?\s*\(")]
    private static partial Regex PInvoke();

    [GeneratedRegex(@"EntryPoint\s*=\s*""(\w+)""")]
    private static partial Regex EntryPoint();

    [Fact]
    public void Only_Tinyo_Linux_declares_PInvokes()
    {
        var sources = RepoFiles.Sources(".cs").ToList();
        Assert.Contains("linux/Tinyo.Linux/Libc.cs", sources); // the walk sees the tree
        var offenders = sources
            .Where(f => !f.StartsWith("linux/Tinyo.Linux/", StringComparison.Ordinal))
            .Where(f => PInvoke().IsMatch(File.ReadAllText(Path.Combine(RepoFiles.Root, f))))
            .ToList();
        Assert.True(offenders.Count == 0, "P/Invokes outside linux/Tinyo.Linux (declare them there, once): " + string.Join(", ", offenders));
    }

    [Fact]
    public void Each_libc_function_is_imported_once()
    {
        // syscall(2) is variadic: it is declared once per argument signature, by design.
        var counts = new Dictionary<string, List<string>>();
        foreach (var f in RepoFiles.Sources(".cs").Where(f => f.StartsWith("linux/Tinyo.Linux/", StringComparison.Ordinal)))
        {
            foreach (Match m in EntryPoint().Matches(File.ReadAllText(Path.Combine(RepoFiles.Root, f))))
            {
                var name = m.Groups[1].Value;
                if (name == "syscall") continue;
                if (!counts.TryGetValue(name, out var list)) counts[name] = list = [];
                list.Add(f);
            }
        }
        Assert.True(counts.Count > 50, $"only {counts.Count} imports found");
        var twice = counts.Where(kv => kv.Value.Count > 1).Select(kv => $"{kv.Key} ({string.Join(", ", kv.Value)})").ToList();
        Assert.True(twice.Count == 0, "libc functions imported more than once: " + string.Join("; ", twice));
    }
}
