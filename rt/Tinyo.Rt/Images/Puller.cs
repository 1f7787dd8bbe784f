using System.Buffers;
using System.Net;
using System.Security.Cryptography;

namespace Tinyo.Rt.Images;

/// <summary>Options of a pull.</summary>
public sealed class PullOptions
{
    /// <summary>Talk plain HTTP to the registry even when it is not on loopback.</summary>
    public bool Insecure { get; init; }

    /// <summary>The platform to pick from an index; the host's by default.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Layers downloaded and unpacked at once.</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>How long the registry may keep a request waiting for its next bytes (default 60 s).</summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>Counters the caller may render; updated as bytes arrive.</summary>
    public PullProgress? Progress { get; init; }
}

/// <summary>Live counters of a pull (read them from another thread to draw progress).</summary>
public sealed class PullProgress
{
    internal long _totalBytes, _doneBytes;
    internal int _layers, _layersDone;

    /// <summary>Bytes of config and layers to fetch (known after the manifest).</summary>
    public long TotalBytes => Interlocked.Read(ref _totalBytes);
    /// <summary>Bytes fetched or found in the store.</summary>
    public long DoneBytes => Interlocked.Read(ref _doneBytes);
    /// <summary>Number of layers.</summary>
    public int Layers => Volatile.Read(ref _layers);
    /// <summary>Layers downloaded, verified and unpacked.</summary>
    public int LayersDone => Volatile.Read(ref _layersDone);
}

/// <summary>
/// Pulls an image from a registry into an <see cref="ImageStore"/>: resolves tag → manifest (→ platform manifest
/// for an index), fetches the config and the layers concurrently, verifies every blob's sha256 and every unpacked
/// layer's diff_id, then names the image in refs.json. Manifests and config are written only once every layer is
/// in, so a failed pull leaves no image; verified layers already fetched stay for the next attempt, and an
/// interrupted download resumes from its partial file in <c>tmp/</c>.
/// </summary>
public sealed class Puller(ImageStore store)
{
    private const int CopyBuffer = 128 << 10;

    /// <summary>Pulls <paramref name="reference"/>; returns the stored record.</summary>
    public async Task<ImageRecord> PullAsync(ImageReference reference, PullOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PullOptions();
        var want = options.Platform ?? Platform.Host;
        var progress = options.Progress ?? new PullProgress();
        store.EnsureLayout();
        using var storeLock = await store.LockAsync("store", exclusive: false, ct).ConfigureAwait(false);
        using var client = new RegistryClient(reference, options.Insecure, options.StallTimeout);
        var repo = reference.Repository;
        var what = reference.ToString();

        // 1. The manifest the reference names, verified when it names a digest.
        var (body, contentType, headerDigest) = await client.GetManifestAsync(repo, reference.ManifestReference, ct).ConfigureAwait(false);
        var topDigest = Digest.Compute(body);
        if (reference.Digest is { } pinned && pinned != topDigest)
            throw new RtException($"{what}: digest mismatch: the registry served a manifest with digest {topDigest}");
        if (reference.Digest is null && Digest.TryParse(headerDigest, out var hd) && hd != topDigest)
            throw new RtException($"{what}: manifest digest {topDigest} does not match the registry's Docker-Content-Digest {hd}");
        var top = Manifest.Parse(body, contentType, what);
        var blobsToWrite = new List<(byte[] Data, Digest Digest)> { (body, topDigest) };

        // 2. An index: the manifest for our platform, fetched by digest and verified.
        var manifest = top;
        var manifestDigest = topDigest;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            var chosen = Platform.Select(top.Manifests!, want)
                ?? throw new RtException($"{what}: no image for platform {want} in the index (has: {Platforms(top)})");
            manifestDigest = Digest.Parse(chosen.Digest);
            if (chosen.Size is <= 0 or > Manifest.MaxSize) throw new RtException($"{what}: manifest {manifestDigest} has an invalid size {chosen.Size}");
            var (mb, mct, _) = await client.GetManifestAsync(repo, manifestDigest.ToString(), ct).ConfigureAwait(false);
            if (mb.Length != chosen.Size || Digest.Compute(mb) != manifestDigest)
                throw new RtException($"{what}: digest mismatch: manifest {manifestDigest} served by the registry has digest {Digest.Compute(mb)} ({mb.Length} bytes)");
            manifest = Manifest.Parse(mb, mct ?? chosen.MediaType, $"{what} ({want})");
            if (!MediaTypes.IsManifest(manifest.MediaType)) throw new RtException($"{what}: index entry {manifestDigest} is not an image manifest");
            blobsToWrite.Add((mb, manifestDigest));
        }

        // 3. The config, verified, then checked against the manifest and the platform.
        var configDesc = manifest.Config!;
        var configDigest = Digest.Parse(configDesc.Digest);
        if (configDesc.Size is < 0 or > ImageConfig.MaxSize) throw new RtException($"{what}: config size {configDesc.Size} is out of bounds");
        Interlocked.Add(ref progress._totalBytes, configDesc.Size);
        byte[] configBytes;
        if (store.HasBlob(configDigest)) configBytes = store.ReadBlob(configDigest, ImageConfig.MaxSize);
        else
        {
            configBytes = await client.GetSmallBlobAsync(repo, configDigest, ImageConfig.MaxSize, ct).ConfigureAwait(false);
            if (Digest.Compute(configBytes) != configDigest)
                throw new RtException($"{what}: digest mismatch: config {configDigest} served by the registry has digest {Digest.Compute(configBytes)}");
        }
        Interlocked.Add(ref progress._doneBytes, configDesc.Size);
        var config = ImageConfig.Parse(configBytes, what);
        var layers = manifest.Layers!;
        var diffIds = config.RootFs!.DiffIds!;
        if (layers.Count != diffIds.Count)
            throw new RtException($"{what}: manifest has {layers.Count} layers but the config lists {diffIds.Count} diff_ids");
        if (config.Os is not null && config.Os != want.Os || config.Architecture is not null && config.Architecture != want.Architecture)
            throw new RtException($"{what}: image is for {config.Os}/{config.Architecture}, not {want.Os}/{want.Architecture}");
        blobsToWrite.Add((configBytes, configDigest));

        // 4. Layers, concurrently: download (resumable, verified) then unpack (diff_id verified).
        long size = configDesc.Size;
        foreach (var l in layers)
        {
            size += l.Size;
            Interlocked.Add(ref progress._totalBytes, l.Size);
        }
        Volatile.Write(ref progress._layers, layers.Count);
        using (var gate = new SemaphoreSlim(Math.Max(1, options.Concurrency)))
        using (var failFast = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var tasks = new Task[layers.Count];
            for (var i = 0; i < layers.Count; i++)
            {
                var desc = layers[i];
                var diffId = Digest.Parse(diffIds[i]);
                tasks[i] = Task.Run(async () =>
                {
                    await gate.WaitAsync(failFast.Token).ConfigureAwait(false);
                    try
                    {
                        await EnsureLayerAsync(client, repo, desc, diffId, progress, failFast.Token).ConfigureAwait(false);
                        Interlocked.Increment(ref progress._layersDone);
                    }
                    catch
                    {
                        failFast.Cancel();
                        throw;
                    }
                    finally
                    {
                        gate.Release();
                    }
                }, failFast.Token);
            }
            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // One layer failed and cancelled the others: report that failure, not the cancellations.
                foreach (var t in tasks)
                    if (t.IsFaulted) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(t.Exception!.InnerException!).Throw();
                throw;
            }
            catch when (!ct.IsCancellationRequested)
            {
                foreach (var t in tasks)
                    if (t.IsFaulted && t.Exception!.InnerException is RtException) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(t.Exception.InnerException).Throw();
                throw;
            }
        }

        // 5. Manifests and config into the store, then the name: the image exists only now.
        foreach (var (data, d) in blobsToWrite) store.WriteBlob(data, d);
        var name = reference.Digest is null ? reference.ToString() : reference.WithDigest(topDigest).ToString();
        var record = new ImageRecord
        {
            Name = name,
            Digest = topDigest.ToString(),
            Manifest = manifestDigest.ToString(),
            Config = configDigest.ToString(),
            Size = size,
            Pulled = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
        };
        await store.SetImageAsync(record, ct).ConfigureAwait(false);
        return record;
    }

    private static string Platforms(Manifest index)
    {
        var names = new List<string>();
        foreach (var d in index.Manifests!)
            if (d.Platform is not null && names.Count < 16) names.Add(Manifest.Trunc(d.Platform.ToString()));
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private async Task EnsureLayerAsync(RegistryClient client, string repo, Descriptor desc, Digest diffId, PullProgress progress, CancellationToken ct)
    {
        var blob = Digest.Parse(desc.Digest);
        if (store.HasLayer(diffId))
        {
            Interlocked.Add(ref progress._doneBytes, desc.Size);
            return;
        }
        using var layerLock = await store.LockAsync("layer-" + diffId.Hex, exclusive: true, ct).ConfigureAwait(false);
        if (store.HasLayer(diffId))
        {
            Interlocked.Add(ref progress._doneBytes, desc.Size);
            return;
        }
        await EnsureBlobAsync(client, repo, desc, blob, progress, ct).ConfigureAwait(false);
        try
        {
            await store.UnpackLayerLockedAsync(blob, desc.MediaType, diffId, ct).ConfigureAwait(false);
        }
        catch (RtException e) when (NoSpace.Is(e))
        {
            // The unpacker removed its partial directory; say plainly why it failed.
            throw new RtException($"layer {blob}: {NoSpace.Message} while unpacking it ({e.Message})", e);
        }
    }

    /// <summary>
    /// Downloads blob <paramref name="digest"/> into the store unless it is there: into <c>tmp/HEX.partial</c>
    /// (resumed with a Range request if a previous attempt left one), hashing as it goes; renamed in only when size
    /// and sha256 match. A mismatch deletes the partial file.
    /// </summary>
    private async Task EnsureBlobAsync(RegistryClient client, string repo, Descriptor desc, Digest digest, PullProgress progress, CancellationToken ct)
    {
        if (store.HasBlob(digest))
        {
            Interlocked.Add(ref progress._doneBytes, desc.Size);
            return;
        }
        using var blobLock = await store.LockAsync("blob-" + digest.Hex, exclusive: true, ct).ConfigureAwait(false);
        if (store.HasBlob(digest))
        {
            Interlocked.Add(ref progress._doneBytes, desc.Size);
            return;
        }
        var partial = Path.Combine(store.Root.Tmp, digest.Hex + ".partial");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var discard = false; // bad content: the partial file must not be resumed from
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            await using var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous);
            long have = file.Length;
            if (have > desc.Size)
            {
                file.SetLength(0);
                have = 0;
            }
            // Hash what an interrupted attempt already fetched, then ask for the rest.
            while (true)
            {
                var n = await file.ReadAsync(buffer.AsMemory(0, CopyBuffer), ct).ConfigureAwait(false);
                if (n == 0) break;
                hash.AppendData(buffer, 0, n);
            }
            if (file.Position != have) throw new RtException($"partial download {partial} changed while reading it");

            using var resp = await client.GetBlobAsync(repo, digest, have == desc.Size ? 0 : have, ct).ConfigureAwait(false);
            if (have > 0 && (resp.StatusCode != HttpStatusCode.PartialContent || resp.Content.Headers.ContentRange?.From != have))
            {
                // The registry ignored the Range: start over.
                file.SetLength(0);
                file.Position = 0;
                have = 0;
                hash.GetHashAndReset();
            }
            Interlocked.Add(ref progress._doneBytes, have);
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await using (var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
            {
                var total = have;
                while (true)
                {
                    int n;
                    try
                    {
                        n = await RegistryClient.ReadAsync(body, buffer.AsMemory(0, CopyBuffer), stall, client.StallTimeout, $"blob {digest}", ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or HttpRequestException)
                    {
                        throw new RtException($"blob {digest}: connection lost after {total} of {desc.Size} bytes ({e.Message}); pull again to resume", e);
                    }
                    if (n == 0) break;
                    total += n;
                    if (total > desc.Size)
                    {
                        discard = true;
                        throw new RtException($"blob {digest}: the registry sent more than the {desc.Size} bytes the manifest declares");
                    }
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    Interlocked.Add(ref progress._doneBytes, n);
                }
                if (total != desc.Size)
                    throw new RtException($"blob {digest}: download ended after {total} of {desc.Size} bytes; pull again to resume");
            }
            Span<byte> h = stackalloc byte[32];
            hash.GetHashAndReset(h);
            var got = Digest.FromHash(h);
            if (got != digest)
            {
                discard = true;
                throw new RtException($"blob {digest}: digest mismatch: the registry sent content with digest {got}");
            }
            file.Flush(flushToDisk: true);
        }
        catch (IOException e) when (NoSpace.Is(e))
        {
            // A partial blob kept for resuming would keep the disk full: nothing else could be written, not even
            // the KV's log. It goes; the next pull starts this blob again.
            discard = true;
            throw new RtException($"blob {digest}: {NoSpace.Message} in {store.Root.Tmp} (the partial download was removed; free space and pull again)", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (discard) File.Delete(partial);
        }
        store.CommitBlobFile(partial, digest);
    }
}
