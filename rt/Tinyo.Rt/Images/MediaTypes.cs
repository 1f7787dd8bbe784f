namespace Tinyo.Rt.Images;

/// <summary>The media types of the OCI image spec and Docker's schema2 that Tinyo understands.</summary>
public static class MediaTypes
{
    /// <summary>OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    /// <summary>OCI image index (multi-platform).</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    /// <summary>Docker schema2 image manifest.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    /// <summary>Docker schema2 manifest list (multi-platform).</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// <summary>Docker schema1 manifest (unsigned); deprecated and refused.</summary>
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    /// <summary>Docker schema1 manifest (signed); deprecated and refused.</summary>
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// <summary>OCI image config.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    /// <summary>Docker image config.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    /// <summary>OCI layer, uncompressed tar.</summary>
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    /// <summary>OCI layer, gzip.</summary>
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// <summary>OCI layer, zstd.</summary>
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// <summary>Docker layer, gzip.</summary>
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// <summary>Docker layer, uncompressed tar (rare, some tools emit it).</summary>
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    /// <summary>Docker foreign (Windows base) layer.</summary>
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>The Accept header for manifest requests: every manifest or index type we can read.</summary>
    public const string ManifestAccept = OciIndex + ", " + DockerManifestList + ", " + OciManifest + ", " + DockerManifest;

    /// <summary>True for a single-platform image manifest type.</summary>
    public static bool IsManifest(string? t) => t is OciManifest or DockerManifest;

    /// <summary>True for a multi-platform index type.</summary>
    public static bool IsIndex(string? t) => t is OciIndex or DockerManifestList;

    /// <summary>True for a config type (an empty/absent media type is tolerated by the callers, not here).</summary>
    public static bool IsConfig(string? t) => t is OciConfig or DockerConfig;

    /// <summary>True for a layer type we can unpack.</summary>
    public static bool IsLayer(string? t)
        => t is OciLayer or OciLayerGzip or OciLayerZstd or DockerLayerGzip or DockerLayer or DockerForeignLayerGzip
            or "application/vnd.oci.image.layer.nondistributable.v1.tar"
            or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            or "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
}
