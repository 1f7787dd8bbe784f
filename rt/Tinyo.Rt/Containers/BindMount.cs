using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Containers;

/// <summary>
/// A host path bound into an image container: the one structured form a mount has from a statefile entry (or
/// <c>-v</c>) to the OCI spec, so no caller builds <c>"SRC:DST:ro"</c> strings for the runtime to parse back.
/// </summary>
/// <param name="Source">Absolute host path.</param>
/// <param name="Destination">Absolute path inside the container, without <c>..</c>.</param>
/// <param name="ReadOnly">Mounted read-only.</param>
public sealed record BindMount(string Source, string Destination, bool ReadOnly = false)
{
    /// <summary>
    /// Create a missing source as a root-owned 0755 directory, as Docker's <c>-v</c> does (see
    /// <see cref="MountSource.Ensure"/>: component by component, never through a symlink). Off: a missing source is
    /// an error.
    /// </summary>
    public bool CreateSource { get; init; }

    /// <summary>Also <c>nosuid,nodev,noexec</c> inside the container (the node's secrets tmpfs is mounted so on the
    /// host; the bind keeps it so).</summary>
    public bool NoExec { get; init; }

    /// <summary>The embedder's own mount (tinyonode's secrets tmpfs, which lives in its state directory): exempt
    /// from the forbidden directories, which guard against mounts a user asked for.</summary>
    public bool Trusted { get; init; }

    /// <summary>Parses <c>-v SRC:DST[:ro|rw]</c> (tinyort's command line). Checks the form only; the source is
    /// looked at when the container is made.</summary>
    public static BindMount Parse(string v)
    {
        var parts = v.Split(':');
        if (parts.Length is < 2 or > 3) throw new RtException($"invalid volume \"{v}\": expected SRC:DST[:ro]");
        bool ro = false;
        if (parts.Length == 3)
        {
            foreach (var opt in parts[2].Split(','))
                if (opt == "ro") ro = true;
                else if (opt != "rw") throw new RtException($"invalid volume \"{v}\": unknown option \"{opt}\" (ro or rw)");
        }
        var m = new BindMount(parts[0], parts[1], ro);
        m.CheckPaths();
        return m;
    }

    /// <summary>Throws naming the problem when a path is not absolute, has a NUL byte, or the destination has <c>..</c>.</summary>
    public void CheckPaths()
    {
        if (!Source.StartsWith('/') || Source.Contains('\0'))
            throw new RtException($"invalid mount {Show()}: the source must be an absolute host path (named volumes are not supported)");
        if (!Destination.StartsWith('/') || Destination.Contains('\0') || Destination.Split('/').Contains(".."))
            throw new RtException($"invalid mount {Show()}: the destination must be an absolute path without ..");
    }

    /// <summary>
    /// The OCI mount, after checking the paths and the source (created when <see cref="CreateSource"/>; refused
    /// under one of <paramref name="forbiddenSources"/>).
    /// </summary>
    public SpecMount ToSpec(IReadOnlyList<string> forbiddenSources)
    {
        CheckPaths();
        var src = MountSource.Ensure(Source, CreateSource, Trusted ? [] : forbiddenSources, Show());
        List<string> opts = ["rbind", "rprivate"];
        if (ReadOnly) opts.Add("ro");
        if (NoExec) opts.AddRange(["nosuid", "nodev", "noexec"]);
        return new SpecMount { Destination = Destination, Type = "bind", Source = src, Options = opts };
    }

    private string Show() => Source + " → " + Destination;
}
