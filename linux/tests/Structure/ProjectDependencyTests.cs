using System.Xml.Linq;

namespace Tinyo.Linux.Tests.Structure;

/// <summary>
/// The allowed dependency graph (docs/architecture.md, "Dependencies"), read from every .csproj's ProjectReferences.
/// An arrow that points the wrong way fails here, not in a review: Tinyo.Linux references no Tinyo project and Tinyo.Api only
/// Tinyo.Linux (it examines a statefile path with statx before reading it), the KV client only leaves, the runtime and the KV server neither each other nor node/ctl, and nothing
/// references the node or the CLI library except their own executable and tests.
/// </summary>
public class ProjectDependencyTests
{
    /// <summary>Each library and executable with every Tinyo project it may reference. Tests, bench and fuzz may
    /// reference what they exercise; no project may reference them.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Tinyo.Linux"] = [],
        ["Tinyo.Api"] = ["Tinyo.Linux"],
        ["Tinyo.Kv.Client"] = ["Tinyo.Linux", "Tinyo.Api"],
        ["Tinyo.Kv"] = ["Tinyo.Kv.Client", "Tinyo.Linux"],
        ["Tinyo.Rt"] = ["Tinyo.Linux"],
        ["Tinyo.Ctl"] = ["Tinyo.Api", "Tinyo.Linux"],
        ["Tinyo.Node"] = ["Tinyo.Api", "Tinyo.Linux", "Tinyo.Rt", "Tinyo.Kv.Client"],
        ["tinyort"] = ["Tinyo.Rt", "Tinyo.Linux"],
        ["tinyokv"] = ["Tinyo.Kv", "Tinyo.Kv.Client", "Tinyo.Linux"],
        ["tinyonode"] = ["Tinyo.Node", "Tinyo.Api", "Tinyo.Linux", "Tinyo.Rt", "Tinyo.Kv.Client"],
        ["tio"] = ["Tinyo.Ctl", "Tinyo.Api", "Tinyo.Linux"],
        // The multi-call binary: the four executables' entry points, nothing below them directly.
        ["tinyo"] = ["tio", "tinyonode", "tinyokv", "tinyort"],
    };

    /// <summary>Who may reference the node's and the CLI's libraries besides their executables: their tests and the fuzz harness.</summary>
    private static readonly Dictionary<string, string[]> OnlyReferencedBy = new()
    {
        ["Tinyo.Node"] = ["tinyonode", "Tinyo.Node.Tests", "Tinyo.Fuzz"],
        ["Tinyo.Ctl"] = ["tio", "Tinyo.Ctl.Tests", "Tinyo.Fuzz"],
    };

    private static bool IsHarness(string project) =>
        project.EndsWith(".Tests", StringComparison.Ordinal) || project is "Tinyo.Bench" or "Tinyo.Fuzz";

    /// <summary>Every project of the tree with the projects it references (by project name).</summary>
    internal static Dictionary<string, List<string>> Graph()
    {
        var graph = new Dictionary<string, List<string>>();
        foreach (var rel in RepoFiles.Sources(".csproj"))
        {
            var path = Path.Combine(RepoFiles.Root, rel);
            var refs = XDocument.Load(path).Descendants("ProjectReference")
                .Select(e => (string?)e.Attribute("Include"))
                .Where(i => i is not null)
                .Select(i => Path.GetFileNameWithoutExtension(i!.Replace('\\', '/')))
                .ToList();
            graph.Add(Path.GetFileNameWithoutExtension(rel), refs);
        }
        return graph;
    }

    [Fact]
    public void The_graph_is_read_from_the_tree()
    {
        var g = Graph();
        foreach (var p in Allowed.Keys) Assert.True(g.ContainsKey(p), $"{p}.csproj not found");
        Assert.Contains("Tinyo.Rt", g["Tinyo.Node"]);
    }

    [Fact]
    public void Every_library_and_executable_is_in_the_allowed_graph()
    {
        var unknown = Graph().Keys.Where(p => !IsHarness(p) && !Allowed.ContainsKey(p)).ToList();
        Assert.True(unknown.Count == 0, "projects missing from the allowed graph (add them here and to docs/architecture.md): " + string.Join(", ", unknown));
    }

    [Fact]
    public void No_arrow_points_the_wrong_way()
    {
        var wrong = new List<string>();
        foreach (var (project, refs) in Graph())
        {
            foreach (var r in refs)
            {
                if (IsHarness(r)) wrong.Add($"{project} → {r} (a test, bench or fuzz project)");
                else if (Allowed.TryGetValue(project, out var ok) && !ok.Contains(r)) wrong.Add($"{project} → {r}");
                if (OnlyReferencedBy.TryGetValue(r, out var by) && !by.Contains(project)) wrong.Add($"{project} → {r} (only its executable and tests may)");
            }
        }
        Assert.True(wrong.Count == 0, "project references against the allowed graph: " + string.Join("; ", wrong));
    }

    [Fact]
    public void The_check_catches_a_wrong_arrow()
    {
        // The rule itself, on a graph with arrows that must be refused: rt → kv, a leaf → rt, kv client → kv server.
        Assert.DoesNotContain("Tinyo.Kv", Allowed["Tinyo.Rt"]);
        Assert.DoesNotContain("Tinyo.Rt", Allowed["Tinyo.Kv"]);
        Assert.Empty(Allowed["Tinyo.Linux"]);
        Assert.Equal(["Tinyo.Linux"], Allowed["Tinyo.Api"]);
        Assert.DoesNotContain("Tinyo.Kv", Allowed["Tinyo.Kv.Client"]);
        Assert.All(Allowed, kv => Assert.DoesNotContain("Tinyo.Node", kv.Value.Where(_ => kv.Key != "tinyonode")));
        Assert.All(Allowed, kv => Assert.DoesNotContain("Tinyo.Ctl", kv.Value.Where(_ => kv.Key != "tio")));
    }
}
