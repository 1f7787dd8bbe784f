using System.Buffers;
using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Kv.Protocol;
using Tinyo.Node.Http;
using Tinyo.Rt;
using Tinyo.Rt.Images;
using Tinyo.Rt.Oci;

namespace Tinyo.Fuzz;

/// <summary>A fuzz target: a parser or boundary fed with arbitrary bytes.</summary>
/// <param name="Name">Name used on the command line and as the corpus folder (fuzz/corpus/NAME).</param>
/// <param name="Body">Feeds one input to the code under test. It may throw only the project's own error types.</param>
public sealed record Target(string Name, Action<byte[]> Body)
{
    /// <summary>Runs one input; the project's own errors are expected answers to bad input, anything else escapes.</summary>
    public void Run(byte[] input) => Answer(input);

    /// <summary>Runs one input and returns null if it was accepted, else the message of the project's error.</summary>
    public string? Answer(byte[] input)
    {
        try { Body(input); return null; }
        catch (RtException e) { return e.Message; }
        catch (KvException e) { return e.Message; }
        catch (StatefileException e) { return e.Message; }
        catch (HttpParseException e) { return e.Message; }
        catch (Tinyo.Node.NodeException e) { return e.Message; }
    }
}

/// <summary>Every harness. Add one whenever a parser or boundary lands.</summary>
public static class Targets
{
    public static readonly Target[] All =
    [
        new("digest", static b =>
        {
            var text = Input.Utf8(b);
            if (Digest.TryParse(text, out var d) && Digest.Parse(d.ToString()) != d)
                throw new InvalidOperationException("digest does not round-trip");
            Digest.Parse(text);
        }),
        // Image references come from users and from other tools' output.
        new("image-ref", static b =>
        {
            var r = ImageReference.Parse(Input.Utf8(b));
            // Oracle beyond "no crash": the normalised form parses to the same reference.
            var again = ImageReference.Parse(r.ToString());
            if (again.ToString() != r.ToString()) throw new InvalidOperationException($"'{r}' does not round-trip");
        }),
        // WWW-Authenticate headers come from any registry the user names.
        new("auth-challenge", static b => AuthChallenge.Parse(Input.Utf8(b))),
        // Manifests, indexes and image configs come from registries and image archives.
        new("manifest", static b => Manifest.Parse(b, "application/vnd.oci.image.manifest.v1+json", "fuzz")),
        new("image-config", static b => ImageConfig.Parse(b, "fuzz")),
        // OCI bundles' config.json come from users and other engines.
        new("oci-config", static b => Bundle.FromSpec("/nonexistent-tinyo-fuzz-bundle", Bundle.Parse(b))),
        // Layer tarballs: the oracle is also that nothing is written outside the layer directory.
        new("layer", LayerTarget.Run),
        // tinyokv request bodies arrive from the network before any business logic.
        new("kv-frames", static b =>
        {
            if (b.Length == 0) return;
            var body = b.AsSpan(1);
            var r = new WireReader(body);
            switch (b[0] % 5)
            {
                case 0: PutRequest.Decode(ref r); break;
                case 1: RangeRequest.Decode(ref r); break;
                case 2: DeleteRangeRequest.Decode(ref r); break;
                case 3: TxnRequest.Decode(ref r); break;
                default: WatchRequest.Decode(ref r); break;
            }
            r.End();
        }),
        // Statefiles are written by users; errors must name file:line:col, and YamlDotNet's own exceptions must not escape.
        new("statefile", static b => Statefile.Parse(Input.Utf8(b), "app.yml", "/nonexistent-tinyo-fuzz")),
        // Compose files (the same parser, seeded with docker-compose.yml shapes): services, ports, volumes, depends_on cycles.
        new("compose", static b => Statefile.Parse(Input.Utf8(b), "docker-compose.yml", "/nonexistent-tinyo-fuzz")),
        // The node's HTTP request heads arrive from any local or remote client before authentication.
        new("http-head", static b =>
        {
            var limits = new HttpLimits { MaxHeaderBytes = 8192, MaxHeaders = 64, MaxBodyBytes = 1 << 20 };
            if (HttpParser.TryParseHead(new ReadOnlySequence<byte>(b), limits, out var req, out _) && req is not null)
                HttpParser.ContentLength(req, limits);
        }),
        // The node API's JSON bodies (init, login, users, nets, secrets, apps), alone or as whole HTTP requests.
        new("node-api", NodeApiTarget.Run),
        // The container init's configuration message: bytes from the sync socket, decoded before anything else.
        new("init-config", InitConfigTarget.Run),
        // rtnetlink replies (links, addresses, errors with extended acks) read by the cluster network set-up.
        new("netlink", NetlinkTarget.Run),
        // DNS queries from replicas and replies from upstream resolvers, read by the cluster DNS responder.
        new("dns", DnsTarget.Run),
        // Join requests (challenge and join bodies) from any host that reaches a clustered node's API port.
        new("join", JoinTarget.Run),
        // IPAM subnet records and status records of other nodes, read by the cluster overlay (VXLAN, names across nodes).
        new("overlay", OverlayTarget.Run),
        // Backup files (tio restore): header, passphrase check, chunks, and the decrypted records.
        new("backup", BackupTarget.Run),
        // What the metrics collector reads from /proc: a container process's stat line (its command name is the
        // process's own choice) and the node's /proc/net/dev. Oracle: no exception at all, no negative counter.
        new("proc-counters", static b =>
        {
            var text = Input.Utf8(b);
            if (Tinyo.Rt.Cgroups.Cgroup.StatCpuTicks(text) < 0) throw new InvalidOperationException("negative CPU ticks");
            foreach (var (_, (rx, tx)) in Tinyo.Node.Metrics.NetDevCounters.Parse(text))
                if (rx < 0 || tx < 0) throw new InvalidOperationException("a negative byte counter");
        }),
    ];

    public static bool TryFind(string name, out Target target)
    {
        foreach (var t in All)
            if (t.Name == name) { target = t; return true; }
        target = null!;
        return false;
    }

    public static Target Find(string name) =>
        TryFind(name, out var t) ? t : throw new ArgumentException($"unknown fuzz target '{name}' (see: list)");
}

/// <summary>Unpacks the input as a layer into a fresh temp dir and checks that nothing escaped it.</summary>
internal static class LayerTarget
{
    private static readonly string Base = Path.Combine(Path.GetTempPath(), $"tinyo-fuzz-layer-{Environment.ProcessId}");

    public static void Run(byte[] input)
    {
        var outside = Path.Combine(Base, "outside");
        var dest = Path.Combine(Base, "box", "layer");
        Directory.CreateDirectory(outside);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        try
        {
            LayerUnpacker.UnpackAsync(new MemoryStream(input), "application/octet-stream", dest).GetAwaiter().GetResult();
        }
        finally
        {
            var leaked = Directory.GetFileSystemEntries(outside).Length != 0
                || Directory.GetFileSystemEntries(Base).Length != 2
                || Directory.GetFileSystemEntries(Path.GetDirectoryName(dest)!, ".*partial*").Length != 0;
            if (Directory.Exists(dest)) LayerUnpacker.DeleteLayer(dest);
            if (leaked)
            {
                LayerUnpacker.DeleteLayer(Base);
                throw new InvalidOperationException("layer wrote outside its directory or left a partial dir");
            }
        }
    }
}
