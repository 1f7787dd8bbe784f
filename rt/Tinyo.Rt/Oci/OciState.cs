namespace Tinyo.Rt.Oci;

/// <summary>
/// The state of a container as the OCI runtime spec defines it and as <c>runc state</c> prints it
/// (<c>ociVersion</c>, <c>id</c>, <c>pid</c>, <c>status</c>, <c>bundle</c>, <c>rootfs</c>, <c>created</c>, <c>owner</c>).
/// </summary>
public sealed class OciState
{
    /// <summary>Spec version of this state document.</summary>
    public string OciVersion { get; set; } = "1.2.0";
    /// <summary>Container id.</summary>
    public string Id { get; set; } = "";
    /// <summary>Host pid of the container's process, 0 once stopped.</summary>
    public int Pid { get; set; }
    /// <summary><c>creating</c>, <c>created</c>, <c>running</c> or <c>stopped</c>.</summary>
    public string Status { get; set; } = "";
    /// <summary>Absolute bundle directory.</summary>
    public string Bundle { get; set; } = "";
    /// <summary>Absolute root filesystem directory.</summary>
    public string Rootfs { get; set; } = "";
    /// <summary>Creation time, RFC 3339 UTC.</summary>
    public string Created { get; set; } = "";
    /// <summary>Owner (always empty: rootful).</summary>
    public string Owner { get; set; } = "";
    /// <summary>The bundle's annotations.</summary>
    public Dictionary<string, string>? Annotations { get; set; }
}
