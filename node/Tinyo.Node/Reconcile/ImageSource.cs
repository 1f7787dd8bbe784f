using Tinyo.Rt;
using Tinyo.Rt.Images;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Finds an app's image in the node's store, pulling it when missing. <c>docker.io</c> images are tried on the
/// registry mirrors first (like Docker's <c>registry-mirrors</c>: an offline host resolves <c>alpine:latest</c> from
/// a local registry), then on Docker Hub. A mirror's pull is stored under the mirror's name and then also under the
/// image's own name, so <c>alpine:latest</c> is found next time without any network. Images are pulled only when
/// missing (no re-pull of <c>:latest</c>).
/// </summary>
/// <remarks>Offline (<c>--offline</c>): only mirrors and loopback registries are contacted — for hosts without a way
/// out, and for tests, which must not send traffic beyond 127.0.0.0/8.</remarks>
internal sealed class ImageSource(ImageStore store, Func<CancellationToken, Task<IReadOnlyList<string>>> mirrors, bool offline, Action<string> log)
{
    /// <summary>How long one pull may take before the app reports an error (and is retried later).</summary>
    public static readonly TimeSpan PullTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The stored image for <paramref name="image"/>; throws <see cref="RtException"/> naming the problem.</summary>
    public async Task<StoredImage> GetAsync(string image, CancellationToken ct)
    {
        try
        {
            return store.Load(store.Find(image));
        }
        catch (RtException) when (ImageReference.TryParse(image, out var r))
        {
            return store.Load(await PullAsync(r!, ct).ConfigureAwait(false));
        }
    }

    private async Task<ImageRecord> PullAsync(ImageReference r, CancellationToken ct)
    {
        var errors = new List<string>();
        if (r.Domain == ImageReference.DockerHubDomain)
        {
            foreach (var m in await mirrors(ct).ConfigureAwait(false))
            {
                if (!RegistryMirrors.TryParse(m, out var host, out var insecure))
                {
                    errors.Add($"mirror '{m}': not a registry address (http://HOST:PORT or HOST:PORT)");
                    continue;
                }
                var via = ImageReference.Parse(host + "/" + r.Repository + (r.Digest is { } d ? "@" + d : ":" + r.Tag));
                try
                {
                    log($"pulling {r} from mirror {host}");
                    var rec = await PullOnce(via, insecure, ct).ConfigureAwait(false);
                    var alias = new ImageRecord
                    {
                        Name = r.Digest is null ? r.ToString() : r.WithDigest(Digest.Parse(rec.Digest)).ToString(),
                        Digest = rec.Digest, Manifest = rec.Manifest, Config = rec.Config, Size = rec.Size, Pulled = rec.Pulled,
                    };
                    await store.SetImageAsync(alias, ct).ConfigureAwait(false);
                    return alias;
                }
                catch (RtException e)
                {
                    errors.Add($"mirror {host}: {e.Message}");
                }
            }
        }
        if (offline && !r.IsLoopback)
        {
            errors.Add(r.Domain == ImageReference.DockerHubDomain ? "offline: docker.io is not contacted (no registry mirror has it)" : $"offline: registry {r.Domain} is not contacted");
            throw new RtException($"image {r} could not be pulled: {string.Join("; ", errors)}");
        }
        try
        {
            log($"pulling {r}");
            return await PullOnce(r, false, ct).ConfigureAwait(false);
        }
        catch (RtException e)
        {
            errors.Add(e.Message);
            throw new RtException($"image {r} could not be pulled: {string.Join("; ", errors)}");
        }
    }

    private async Task<ImageRecord> PullOnce(ImageReference r, bool insecure, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(PullTimeout);
        try
        {
            return await new Puller(store).PullAsync(r, new PullOptions { Insecure = insecure, StallTimeout = TimeSpan.FromSeconds(30) }, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new RtException($"pull of {r} timed out after {PullTimeout.TotalMinutes:0} minutes");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new RtException($"pull of {r} failed: {e.Message}");
        }
    }
}

/// <summary>Registry mirrors (Docker's <c>registry-mirrors</c>): where docker.io images are looked for first.</summary>
public static class RegistryMirrors
{
    /// <summary>Parses a mirror: <c>http://HOST[:PORT]</c>, <c>https://HOST[:PORT]</c> or <c>HOST[:PORT]</c> (https).</summary>
    public static bool TryParse(string mirror, out string host, out bool insecure)
    {
        host = "";
        insecure = false;
        var m = mirror.Trim();
        if (m.Length == 0) return false;
        if (!m.Contains("://", StringComparison.Ordinal)) m = "https://" + m;
        if (!Uri.TryCreate(m, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || u.Host.Length == 0) return false;
        if (u.AbsolutePath is not ("/" or "")) return false; // a path prefix is not supported
        host = u.Authority;
        insecure = u.Scheme == "http";
        return true;
    }

    /// <summary>Splits a comma- or whitespace-separated list.</summary>
    public static IReadOnlyList<string> Split(string? text)
        => string.IsNullOrWhiteSpace(text) ? [] : text.Split([',', ' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Splits and checks a list; throws <see cref="NodeException"/> naming a bad entry.</summary>
    public static IReadOnlyList<string> Parse(string? text)
    {
        var l = Split(text);
        foreach (var m in l)
            if (!TryParse(m, out _, out _)) throw new NodeException($"invalid registry mirror '{m}': expected http://HOST:PORT, https://HOST or HOST:PORT");
        return l;
    }
}
