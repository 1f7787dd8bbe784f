using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tinyo.Rt.Images;

/// <summary>A content descriptor: what a manifest or index says about a blob it points to.</summary>
public sealed class Descriptor
{
    /// <summary>Media type of the referenced content.</summary>
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    /// <summary>Digest of the referenced content, <c>sha256:HEX</c> (validated with <see cref="Images.Digest.Parse"/> before use).</summary>
    [JsonPropertyName("digest")] public string? Digest { get; set; }
    /// <summary>Size in bytes of the referenced content.</summary>
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>Platform of a manifest in an index.</summary>
    [JsonPropertyName("platform")] public Platform? Platform { get; set; }
    /// <summary>Annotations (OCI layouts use <c>org.opencontainers.image.ref.name</c> for tags).</summary>
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>
/// An image manifest or an image index (OCI or Docker schema2), parsed from untrusted JSON: check
/// <see cref="MediaType"/> and validate every digest before use.
/// </summary>
public sealed class Manifest
{
    /// <summary>Largest manifest or index accepted (the distribution spec suggests 4 MiB).</summary>
    public const int MaxSize = 4 << 20;

    /// <summary>Always 2 for supported types.</summary>
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
    /// <summary>Media type (optional in OCI documents; the HTTP Content-Type or the caller fills it in).</summary>
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    /// <summary>The image config (manifests only).</summary>
    [JsonPropertyName("config")] public Descriptor? Config { get; set; }
    /// <summary>Layers, bottom first (manifests only).</summary>
    [JsonPropertyName("layers")] public List<Descriptor>? Layers { get; set; }
    /// <summary>Per-platform manifests (indexes only).</summary>
    [JsonPropertyName("manifests")] public List<Descriptor>? Manifests { get; set; }
    /// <summary>Annotations.</summary>
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>
    /// Parses a manifest or index. <paramref name="contentType"/> is the registry's Content-Type, used when the
    /// document has no mediaType of its own. Throws <see cref="RtException"/> for schema1, unknown types or bad JSON.
    /// </summary>
    public static Manifest Parse(ReadOnlySpan<byte> json, string? contentType, string what)
    {
        if (json.Length > MaxSize) throw new RtException($"{what}: manifest is larger than {MaxSize >> 20} MiB");
        Manifest? m;
        try
        {
            m = JsonSerializer.Deserialize(json, ImageJsonContext.Default.Manifest);
        }
        catch (JsonException e)
        {
            throw new RtException($"{what}: manifest is not valid JSON ({e.Message})");
        }
        if (m is null) throw new RtException($"{what}: manifest is null");
        var ct = contentType;
        if (ct is not null && ct.IndexOf(';') is var semi and >= 0) ct = ct[..semi].Trim();
        if (m.SchemaVersion == 1 || ct is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed
            || m.MediaType is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed)
            throw new RtException($"{what}: Docker schema1 manifests are deprecated and not supported; re-push the image with a current tool");
        if (m.MediaType is null)
        {
            if (MediaTypes.IsManifest(ct) || MediaTypes.IsIndex(ct)) m.MediaType = ct;
            else if (m.Manifests is not null && m.Config is null) m.MediaType = MediaTypes.OciIndex;
            else if (m.Config is not null) m.MediaType = MediaTypes.OciManifest;
        }
        if (m.SchemaVersion != 2) throw new RtException($"{what}: unsupported manifest schemaVersion {m.SchemaVersion}");
        if (MediaTypes.IsIndex(m.MediaType))
        {
            if (m.Manifests is null) throw new RtException($"{what}: image index has no manifests");
        }
        else if (MediaTypes.IsManifest(m.MediaType))
        {
            if (m.Config is null) throw new RtException($"{what}: image manifest has no config");
            if (m.Layers is null) throw new RtException($"{what}: image manifest has no layers list");
            if (m.Config.MediaType is not null && !MediaTypes.IsConfig(m.Config.MediaType))
                throw new RtException($"{what}: config media type '{Trunc(m.Config.MediaType)}' is not an image config (artifact, not a container image?)");
            Images.Digest.Parse(m.Config.Digest);
            foreach (var l in m.Layers)
            {
                Images.Digest.Parse(l.Digest);
                if (!MediaTypes.IsLayer(l.MediaType))
                    throw new RtException($"{what}: unsupported layer media type '{Trunc(l.MediaType)}'");
                if (l.Size < 0) throw new RtException($"{what}: layer {l.Digest} has a negative size");
            }
        }
        else
        {
            throw new RtException($"{what}: unsupported manifest media type '{Trunc(m.MediaType ?? ct)}'");
        }
        return m;
    }

    internal static string Trunc(string? s) => s is null ? "(none)" : s.Length > 100 ? s[..100] + "…" : s;
}

/// <summary>The parts of an image config (OCI or Docker) that the runtime uses.</summary>
public sealed class ImageConfig
{
    /// <summary>Largest config accepted.</summary>
    public const int MaxSize = 8 << 20;

    /// <summary>CPU architecture (GOARCH spelling).</summary>
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    /// <summary>Operating system.</summary>
    [JsonPropertyName("os")] public string? Os { get; set; }
    /// <summary>CPU variant (arm: v6/v7/v8).</summary>
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    /// <summary>Creation time (RFC 3339), as the builder wrote it.</summary>
    [JsonPropertyName("created")] public string? Created { get; set; }
    /// <summary>How to run a container from the image.</summary>
    [JsonPropertyName("config")] public ContainerConfig? Config { get; set; }
    /// <summary>The uncompressed layers' digests.</summary>
    [JsonPropertyName("rootfs")] public RootFs? RootFs { get; set; }

    /// <summary>Parses an untrusted config blob; validates rootfs.diff_ids.</summary>
    public static ImageConfig Parse(ReadOnlySpan<byte> json, string what)
    {
        ImageConfig? c;
        try
        {
            c = JsonSerializer.Deserialize(json, ImageJsonContext.Default.ImageConfig);
        }
        catch (JsonException e)
        {
            throw new RtException($"{what}: image config is not valid JSON ({e.Message})");
        }
        if (c is null) throw new RtException($"{what}: image config is null");
        if (c.RootFs?.DiffIds is null) throw new RtException($"{what}: image config has no rootfs.diff_ids");
        if (c.RootFs.Type is not null && c.RootFs.Type != "layers")
            throw new RtException($"{what}: image config rootfs.type '{Manifest.Trunc(c.RootFs.Type)}' is not 'layers'");
        foreach (var d in c.RootFs.DiffIds) Digest.Parse(d);
        return c;
    }
}

/// <summary>The <c>config</c> section of an image config: the defaults for a container.</summary>
public sealed class ContainerConfig
{
    /// <summary>User (name, uid, or uid:gid).</summary>
    public string? User { get; set; }
    /// <summary>Ports the image documents as exposed (<c>80/tcp</c> → {}).</summary>
    public Dictionary<string, JsonElement>? ExposedPorts { get; set; }
    /// <summary>Environment, <c>NAME=value</c>.</summary>
    public List<string>? Env { get; set; }
    /// <summary>Entrypoint argv.</summary>
    public List<string>? Entrypoint { get; set; }
    /// <summary>Default arguments (or command, without an entrypoint).</summary>
    public List<string>? Cmd { get; set; }
    /// <summary>Working directory.</summary>
    public string? WorkingDir { get; set; }
    /// <summary>Labels.</summary>
    public Dictionary<string, string>? Labels { get; set; }
    /// <summary>Signal to stop the container with.</summary>
    public string? StopSignal { get; set; }
    /// <summary>Volumes the image declares.</summary>
    public Dictionary<string, JsonElement>? Volumes { get; set; }
}

/// <summary>The <c>rootfs</c> section of an image config.</summary>
public sealed class RootFs
{
    /// <summary>Always <c>layers</c>.</summary>
    [JsonPropertyName("type")] public string? Type { get; set; }
    /// <summary>sha256 of each uncompressed layer tar, bottom first.</summary>
    [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; set; }
}

/// <summary>Source-generated JSON metadata for the image types (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = false,
    MaxDepth = 64)]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(RefsFile))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(DockerConfigFile))]
[JsonSerializable(typeof(List<DockerSaveEntry>))]
internal sealed partial class ImageJsonContext : JsonSerializerContext;
