namespace Tinyo.Linux.Tests.Structure;

/// <summary>The repository's own source tree, found from the test's output directory (artifacts/ is inside it).</summary>
internal static class RepoFiles
{
    /// <summary>The directory holding tinyo.slnx.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "tinyo.slnx"))) return d.FullName;
        throw new InvalidOperationException($"no tinyo.slnx above {AppContext.BaseDirectory}");
    }

    /// <summary>Files named *<paramref name="extension"/> in the source tree (build outputs left out), relative, '/'-separated.</summary>
    public static IEnumerable<string> Sources(string extension)
    {
        foreach (var f in Directory.EnumerateFiles(Root, "*" + extension, SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(Root, f).Replace('\\', '/');
            if (rel.StartsWith("artifacts/", StringComparison.Ordinal) || rel.StartsWith("out/", StringComparison.Ordinal) ||
                rel.StartsWith(".", StringComparison.Ordinal) || rel.Contains("/obj/", StringComparison.Ordinal) ||
                rel.Contains("/bin/", StringComparison.Ordinal))
                continue;
            yield return rel;
        }
    }
}
