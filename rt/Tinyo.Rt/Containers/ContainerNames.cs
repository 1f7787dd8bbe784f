using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// Container names: <c>ROOT/names/NAME</c> is a symlink to the container's id. symlink(2) fails with EEXIST when
/// the name is taken, so two concurrent <c>run --name</c> cannot both get it. Names and ids are validated before they
/// become path components: no <c>/</c>, no <c>..</c>, no leading dot or dash.
/// </summary>
public static class ContainerNames
{
    private static readonly string[] Adjectives = ["brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "quiet", "swift", "tidy", "vivid", "witty", "zen"];
    private static readonly string[] Nouns = ["otter", "heron", "lynx", "ibex", "finch", "gecko", "koala", "marten", "newt", "puffin", "quokka", "tapir", "wren", "yak"];

    /// <summary>The directory of name links.</summary>
    public static string Dir(RuntimeRoot root) => Path.Combine(root.Path, "names");

    /// <summary>
    /// A random 12-hex-digit container id. Not a secret, and a collision is refused when the state directory is
    /// created, so <see cref="Random.Shared"/> does: RandomNumberGenerator would load OpenSSL (≈ 3 ms) into every
    /// <c>tinyort run</c>.
    /// </summary>
    public static string NewId()
    {
        Span<byte> b = stackalloc byte[6];
        Random.Shared.NextBytes(b);
        return Convert.ToHexStringLower(b);
    }

    /// <summary>A generated name such as <c>swift_otter_3f2a</c>.</summary>
    public static string NewName() =>
        $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}_{Nouns[Random.Shared.Next(Nouns.Length)]}_{Random.Shared.Next(0x10000):x4}";

    /// <summary>Validates a name as docker does: <c>[a-zA-Z0-9][a-zA-Z0-9_.-]*</c>, at most 128 characters.</summary>
    public static void Validate(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new RtException("container name is empty");
        if (name.Length > 128) throw new RtException("container name is longer than 128 characters");
        if (!char.IsAsciiLetterOrDigit(name[0])) throw new RtException($"invalid container name \"{name}\": must start with a letter or digit");
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
                throw new RtException($"invalid container name \"{name}\": only letters, digits and _ . - are allowed");
    }

    /// <summary>Claims <paramref name="name"/> for <paramref name="id"/>; a clear error when it is taken.</summary>
    public static void Claim(RuntimeRoot root, string name, string id)
    {
        Validate(name);
        Directory.CreateDirectory(Dir(root));
        var link = Path.Combine(Dir(root), name);
        if (SysSymlinkAt(id, AT_FDCWD_, link) == 0) return;
        if (Errno == Errno_.EEXIST)
        {
            var owner = Lookup(root, name);
            throw new RtException($"the container name \"{name}\" is already in use by container {owner ?? "?"}: remove it or choose another name");
        }
        throw Error("claiming container name", link);
    }

    /// <summary>Releases every name whose container directory is gone (a create killed between claiming the name
    /// and recording the container); returns the names released.</summary>
    public static List<string> ReleaseStale(RuntimeRoot root)
    {
        var released = new List<string>();
        if (!Directory.Exists(Dir(root))) return released;
        foreach (var link in Directory.GetFileSystemEntries(Dir(root)))
        {
            var name = Path.GetFileName(link);
            if (Lookup(root, name) is { } id && !Directory.Exists(Path.Combine(root.Containers, id)))
            {
                Release(root, name, id);
                released.Add(name);
            }
        }
        return released;
    }

    /// <summary>Releases a name if it still points at <paramref name="id"/>.</summary>
    public static void Release(RuntimeRoot root, string name, string id)
    {
        if (string.IsNullOrEmpty(name)) return;
        try { Validate(name); } catch (RtException) { return; }
        var link = Path.Combine(Dir(root), name);
        if (Lookup(root, name) == id) File.Delete(link);
    }

    /// <summary>The id a name points at, or null.</summary>
    public static string? Lookup(RuntimeRoot root, string name)
    {
        try { Validate(name); } catch (RtException) { return null; }
        try { return new FileInfo(Path.Combine(Dir(root), name)).LinkTarget; }
        catch (IOException) { return null; }
    }

    /// <summary>
    /// Resolves what a user typed — a name, a full id or a unique id prefix — to a container id, as docker does.
    /// </summary>
    public static string Resolve(RuntimeRoot root, string nameOrId)
    {
        if (Lookup(root, nameOrId) is { } byName && Directory.Exists(Path.Combine(root.Containers, byName))) return byName;
        Bundle.ValidateId(nameOrId);
        if (Directory.Exists(Path.Combine(root.Containers, nameOrId))) return nameOrId;
        string? found = null;
        if (Directory.Exists(root.Containers))
            foreach (var d in Directory.EnumerateDirectories(root.Containers))
            {
                var id = Path.GetFileName(d);
                if (!id.StartsWith(nameOrId, StringComparison.Ordinal)) continue;
                if (found is not null) throw new RtException($"\"{nameOrId}\" matches more than one container: give more of the id");
                found = id;
            }
        return found ?? throw new RtException($"no such container: {nameOrId}");
    }

    /// <summary>Like <see cref="Resolve"/>, but null instead of an error when nothing matches.</summary>
    public static string? TryResolve(RuntimeRoot root, string nameOrId)
    {
        try { return Resolve(root, nameOrId); }
        catch (RtException) { return null; }
    }
}
