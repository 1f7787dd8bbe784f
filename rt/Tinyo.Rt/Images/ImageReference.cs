using System.Text.RegularExpressions;

namespace Tinyo.Rt.Images;

/// <summary>
/// A parsed, normalised image reference: <c>[DOMAIN/]PATH[:TAG][@sha256:HEX]</c> with Docker Hub's conventions
/// (<c>alpine</c> → <c>docker.io/library/alpine:latest</c>). References come from users and from image tarballs, so
/// parsing is strict and every failure names the problem.
/// </summary>
public sealed partial record ImageReference
{
    /// <summary>The canonical domain of Docker Hub.</summary>
    public const string DockerHubDomain = "docker.io";

    /// <summary>The host that serves Docker Hub's registry API.</summary>
    public const string DockerHubRegistry = "registry-1.docker.io";

    private const int MaxLength = 512;

    private ImageReference(string domain, string repository, string? tag, Digest? digest)
    {
        Domain = domain;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry domain as users name it (<c>docker.io</c>, <c>ghcr.io</c>, <c>127.0.0.1:5000</c>).</summary>
    public string Domain { get; }

    /// <summary>The repository path within the registry (<c>library/alpine</c>).</summary>
    public string Repository { get; }

    /// <summary>The tag, or null when the reference names only a digest.</summary>
    public string? Tag { get; }

    /// <summary>The manifest digest the reference pins, if any.</summary>
    public Digest? Digest { get; }

    /// <summary>The host[:port] to talk the distribution API to (Docker Hub's API host for <c>docker.io</c>).</summary>
    public string RegistryHost => Domain == DockerHubDomain ? DockerHubRegistry : Domain;

    /// <summary><c>DOMAIN/PATH</c>, the image's name without tag or digest.</summary>
    public string Name => Domain + "/" + Repository;

    /// <summary>The tag or digest the registry is asked for.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag!;

    /// <summary>True when the registry host is a loopback address, where plain HTTP is the default.</summary>
    public bool IsLoopback
    {
        get
        {
            var host = HostWithoutPort(Domain);
            if (host == "localhost") return true;
            return System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip);
        }
    }

    /// <summary>The canonical form: <c>docker.io/library/alpine:latest</c>, or with <c>@sha256:…</c>.</summary>
    public override string ToString()
        => Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest.Value);

    /// <summary>This reference with its tag replaced by a digest (used to name an image pulled by digest).</summary>
    public ImageReference WithDigest(Digest digest) => new(Domain, Repository, null, digest);

    /// <summary>Parses and normalises <paramref name="text"/>; throws <see cref="RtException"/> naming the problem.</summary>
    public static ImageReference Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new RtException("image reference is empty");
        if (text.Length > MaxLength) throw new RtException($"image reference is longer than {MaxLength} characters");
        foreach (var c in text)
            if (c <= ' ' || c >= 0x7f) throw new RtException($"invalid image reference '{Show(text)}': it contains a space, control or non-ASCII character");

        var rest = text;
        Digest? digest = null;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            var d = rest[(at + 1)..];
            if (!Images.Digest.TryParse(d, out var parsed))
                throw new RtException($"invalid image reference '{Show(text)}': '{Show(d)}' is not a sha256 digest (sha256: and 64 lowercase hex digits)");
            digest = parsed;
            rest = rest[..at];
        }

        string? tag = null;
        var slash = rest.LastIndexOf('/');
        var colon = rest.LastIndexOf(':');
        if (colon > slash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagRegex().IsMatch(tag))
                throw new RtException($"invalid image reference '{Show(text)}': tag '{Show(tag)}' must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
        }
        if (rest.Length == 0) throw new RtException($"invalid image reference '{Show(text)}': no repository name");

        string domain;
        string path;
        var firstSlash = rest.IndexOf('/');
        var first = firstSlash < 0 ? rest : rest[..firstSlash];
        if (firstSlash >= 0 && (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsAsciiLetterUpper)))
        {
            domain = first;
            path = rest[(firstSlash + 1)..];
            if (!DomainRegex().IsMatch(domain))
                throw new RtException($"invalid image reference '{Show(text)}': '{Show(domain)}' is not a valid registry host[:port]");
        }
        else
        {
            domain = DockerHubDomain;
            path = rest;
        }
        if (domain is "index.docker.io" or "registry-1.docker.io") domain = DockerHubDomain;
        if (domain == DockerHubDomain && !path.Contains('/')) path = "library/" + path;

        foreach (var component in path.Split('/'))
        {
            if (!ComponentRegex().IsMatch(component))
                throw new RtException($"invalid image reference '{Show(text)}': repository path component '{Show(component)}' must be lowercase letters and digits, separated by '.', '_', '__' or '-'");
        }
        if (domain.Length + 1 + path.Length > 255)
            throw new RtException($"invalid image reference '{Show(text)}': repository name is longer than 255 characters");

        if (tag is null && digest is null) tag = "latest";
        return new ImageReference(domain, path, tag, digest);
    }

    /// <summary>Parses without throwing.</summary>
    public static bool TryParse(string? text, out ImageReference? reference)
    {
        try
        {
            reference = Parse(text);
            return true;
        }
        catch (RtException)
        {
            reference = null;
            return false;
        }
    }

    private static string HostWithoutPort(string domain)
    {
        if (domain.StartsWith('['))
        {
            var end = domain.IndexOf(']');
            return end > 0 ? domain[..(end + 1)] : domain;
        }
        var colon = domain.LastIndexOf(':');
        return colon >= 0 ? domain[..colon] : domain;
    }

    private static string Show(string s) => s.Length > 80 ? s[..80] + "…" : s;

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex ComponentRegex();

    // host (DNS labels, may be mixed case), IPv4, or [IPv6], optional :port.
    [GeneratedRegex(@"^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")]
    private static partial Regex DomainRegex();
}
