namespace Tinyo.Rt;

/// <summary>
/// The runtime's state directory (default <c>/var/lib/tinyo</c>, overridden by <c>--root</c> or <c>TINYO_ROOT</c>).
/// Everything the runtime writes lives below it, so a test can use a temporary root and delete it afterwards.
/// </summary>
/// <remarks>
/// Layout:
/// <code>
/// images/blobs/sha256/HEX     content-addressed blobs (manifests, configs, compressed layers), verified on write
/// images/layers/sha256/HEX    unpacked layers keyed by diff_id, read-only overlay lower dirs shared by containers
/// images/refs.json            image names → manifest digests
/// containers/ID/              per-container state, upper/work dirs
/// tmp/                        in-progress downloads and unpacks (same filesystem, so a finished one is renamed in)
/// locks/                      flock(2) files serialising work on one digest across processes
/// </code>
/// </remarks>
public sealed class RuntimeRoot
{
    /// <summary>The default root when neither <c>--root</c> nor <c>TINYO_ROOT</c> is given.</summary>
    public const string DefaultPath = "/var/lib/tinyo";

    /// <summary>Creates a root at <paramref name="path"/> (made absolute; directories are created lazily).</summary>
    public RuntimeRoot(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new RtException("runtime root path is empty");
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The absolute path of the root.</summary>
    public string Path { get; }

    /// <summary>Directory of content-addressed blobs: <c>images/blobs/sha256</c>.</summary>
    public string Blobs => System.IO.Path.Combine(Path, "images", "blobs", "sha256");

    /// <summary>Directory of unpacked layers: <c>images/layers/sha256</c>.</summary>
    public string Layers => System.IO.Path.Combine(Path, "images", "layers", "sha256");

    /// <summary>Directory of per-container state.</summary>
    public string Containers => System.IO.Path.Combine(Path, "containers");

    /// <summary>Scratch space on the same filesystem as the store, for atomic renames.</summary>
    public string Tmp => System.IO.Path.Combine(Path, "tmp");

    /// <summary>Directory of lock files.</summary>
    public string Locks => System.IO.Path.Combine(Path, "locks");

    /// <summary>Resolves the root from an explicit flag value, then <c>TINYO_ROOT</c>, then the default.</summary>
    public static RuntimeRoot Resolve(string? flag)
    {
        if (!string.IsNullOrEmpty(flag)) return new RuntimeRoot(flag);
        var env = Environment.GetEnvironmentVariable("TINYO_ROOT");
        return new RuntimeRoot(string.IsNullOrEmpty(env) ? DefaultPath : env);
    }
}
