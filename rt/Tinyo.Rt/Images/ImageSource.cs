namespace Tinyo.Rt.Images;

/// <summary>
/// Find-or-pull, the one used by <c>tinyort run</c> and tinyonode: an image from the store, pulled when missing. <c>docker.io</c> images are tried on the
/// registry mirrors first (like Docker's <c>registry-mirrors</c>: an offline host resolves <c>alpine:latest</c> from
/// a local registry), then on Docker Hub. A mirror's pull is stored under the mirror's name and then also under the
/// image's own name, so <c>alpine:latest</c> is found next time without any network. Images are pulled only when
/// missing (no re-pull of <c>:latest</c>).
/// </summary>
/// <remarks>Offline (<c>--offline</c>): only mirrors and loopback registries are contacted — for hosts without a way
/// out, and for tests, which must not send traffic beyond 127.0.0.0/8.</remarks>
public sealed class ImageSource(ImageStore store, Func<CancellationToken, Task<IReadOnlyList<string>>> mirrors, bool offline, Action<string> log)
{
    /// <summary>A source with a fixed list of mirrors.</summary>
    public ImageSource(ImageStore store, IReadOnlyList<string> mirrors, bool offline, Action<string> log)
        : this(store, _ => Task.FromResult(mirrors), offline, log)
    {
    }

    /// <summary>The mirrors of <c>TINYO_REGISTRY_MIRRORS</c> (comma- or space-separated), as the node's own flag reads them.</summary>
    public static IReadOnlyList<string> MirrorsFromEnvironment() => RegistryMirrors.Split(Environment.GetEnvironmentVariable("TINYO_REGISTRY_MIRRORS"));

    /// <summary>The node's bound on one pull: after it the app reports an error (and is retried later).</summary>
    public static readonly TimeSpan DefaultPullTimeout = TimeSpan.FromMinutes(5);

    /// <summary>How long one pull may take (<see cref="Timeout.InfiniteTimeSpan"/>: no bound, as on the command line).</summary>
    public TimeSpan PullTimeout { get; init; } = DefaultPullTimeout;

    /// <summary>The stored image for <paramref name="image"/>; throws <see cref="RtException"/> naming the problem.</summary>
    public Task<StoredImage> GetAsync(string image, CancellationToken ct) => GetAsync(image, pull: true, ct);

    /// <summary>The stored image for <paramref name="image"/>, pulled when missing unless <paramref name="pull"/> is
    /// false (<c>--pull never</c>).</summary>
    public async Task<StoredImage> GetAsync(string image, bool pull, CancellationToken ct)
    {
        try
        {
            return store.Load(store.Find(image));
        }
        catch (RtException) when (pull && ImageReference.TryParse(image, out var r))
        {
            log($"image {image} not found locally, pulling");
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
        if (PullTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(PullTimeout);
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

