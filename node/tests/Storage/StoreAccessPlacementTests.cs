using System.Text.RegularExpressions;

namespace Tinyo.Node.Tests.Storage;

/// <summary>
/// Raw KV requests stay in node/Tinyo.Node/Store/: the API, the reconciler and the status writer go through the typed
/// store classes, so the key schema and the transactions' atomicity live in one place.
/// </summary>
public partial class StoreAccessPlacementTests
{
    /// <summary>
    /// Files outside Store/ allowed to speak the KV protocol, each with why. The IPAM is its own allocator over its
    /// own keys (/tinyo/ipam/), built from compare-and-swap transactions that are its whole logic; SubnetPool is the part
    /// of it that settles, by one compare-and-swap, which pool the cluster's IPAM allocates from.
    /// </summary>
    private static readonly HashSet<string> Allowed = ["node/Tinyo.Node/Network/Ipam.cs", "node/Tinyo.Node/Network/SubnetPool.cs"];

    /// <summary>The KV's request types (qualified or imported).</summary>
    [GeneratedRegex(@"\bKv\.Protocol\b")]
    private static partial Regex Protocol();

    /// <summary>The store's raw client (<c>store.Kv</c>), not a namespace such as Tinyo.Kv.Client.</summary>
    [GeneratedRegex(@"(?<!\bTinyo)\.Kv\b")]
    private static partial Regex RawClient();

    [Fact]
    public void Only_the_store_classes_build_raw_KV_requests()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "tinyo.slnx"))) root = root.Parent;
        Assert.NotNull(root);
        var node = Path.Combine(root.FullName, "node", "Tinyo.Node");
        var files = Directory.EnumerateFiles(node, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root.FullName, f).Replace('\\', '/'))
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .ToList();
        Assert.Contains("node/Tinyo.Node/Api/NodeApi.cs", files); // the walk sees the tree
        Assert.Contains("node/Tinyo.Node/Store/StateStore.cs", files);
        var offenders = new List<string>();
        foreach (var f in files.Where(f => !f.StartsWith("node/Tinyo.Node/Store/", StringComparison.Ordinal) && !Allowed.Contains(f)))
        {
            var lines = File.ReadAllLines(Path.Combine(root.FullName, f));
            for (var i = 0; i < lines.Length; i++)
                if (Protocol().IsMatch(lines[i]) || RawClient().IsMatch(lines[i]))
                    offenders.Add($"{f}:{i + 1}: {lines[i].Trim()}");
        }
        Assert.True(offenders.Count == 0,
            "raw KV access outside node/Tinyo.Node/Store/ (add a method to a typed store class there):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_scan_recognises_raw_access_and_ignores_namespaces()
    {
        Assert.Matches(RawClient(), "var x = await store.Kv.GetAsync(k, ct: ct);");
        Assert.Matches(Protocol(), "new Kv.Protocol.TxnOp(Put: p)");
        Assert.Matches(Protocol(), "using Tinyo.Kv.Protocol;");
        Assert.DoesNotMatch(RawClient(), "using Tinyo.Kv.Client;");
        Assert.DoesNotMatch(RawClient(), "if (e is Kv.Client.KvTlsException) return;");
        Assert.DoesNotMatch(RawClient(), "var eps = options.KvEndpoints;");
    }
}
