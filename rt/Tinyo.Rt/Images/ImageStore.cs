using System.Text.Json;
using System.Text.Json.Serialization;
using Tinyo.Linux;

namespace Tinyo.Rt.Images;

/// <summary>
/// The local image store under a <see cref="RuntimeRoot"/>: content-addressed blobs, unpacked layers keyed by
/// diff_id, and <c>refs.json</c> naming images. Blobs are written to <c>tmp/</c>, checked against their digest,
/// fsynced and renamed in, so a blob file that exists is always complete and verified.
/// </summary>
/// <remarks>
/// Locks (flock under <c>locks/</c>): <c>store.lock</c> is held shared by every pull and exclusively by garbage
/// collection; <c>refs.lock</c> serialises edits of refs.json; <c>blob-HEX.lock</c> / <c>layer-HEX.lock</c> serialise the download of a blob
/// and the unpack of a layer across processes (distinct names: an uncompressed layer's blob digest is its diff_id).
/// </remarks>
public sealed class ImageStore
{
    private const int MaxRefsFile = 64 << 20;

    /// <summary>Creates a store view over <paramref name="root"/> (directories are created on first write).</summary>
    public ImageStore(RuntimeRoot root) => Root = root;

    /// <summary>The runtime root.</summary>
    public RuntimeRoot Root { get; }

    private string RefsPath => Path.Combine(Root.Path, "images", "refs.json");

    /// <summary>
    /// Creates the store's directories. <c>images/</c> and <c>tmp/</c> are 0700: unpacked layers hold the image's
    /// device nodes and setuid files, which must not be reachable by unprivileged users.
    /// </summary>
    public void EnsureLayout()
    {
        if (OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(Root.Path);
            Directory.CreateDirectory(Path.Combine(Root.Path, "images"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.CreateDirectory(Root.Tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Directory.CreateDirectory(Root.Blobs);
        Directory.CreateDirectory(Root.Layers);
        Directory.CreateDirectory(Root.Tmp);
        Directory.CreateDirectory(Root.Locks);
    }

    /// <summary>Path of a blob file.</summary>
    public string BlobPath(Digest d) => Path.Combine(Root.Blobs, d.Hex);

    /// <summary>Path of an unpacked layer directory (keyed by diff_id).</summary>
    public string LayerPath(Digest diffId) => Path.Combine(Root.Layers, diffId.Hex);

    /// <summary>True when the blob is in the store (and therefore verified).</summary>
    public bool HasBlob(Digest d) => File.Exists(BlobPath(d));

    /// <summary>True when the layer is unpacked.</summary>
    public bool HasLayer(Digest diffId) => Directory.Exists(LayerPath(diffId));

    /// <summary>Takes a named lock under <c>locks/</c>.</summary>
    public Task<FileLock> LockAsync(string name, bool exclusive, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Root.Locks);
        return FileLock.AcquireAsync(Path.Combine(Root.Locks, name + ".lock"), exclusive, ct);
    }

    /// <summary>Reads a small blob, at most <paramref name="max"/> bytes, re-checking its digest.</summary>
    public byte[] ReadBlob(Digest d, int max) => ReadBlob(d, max, verify: true);

    /// <summary>
    /// Reads blob <paramref name="d"/>; with <paramref name="verify"/> false the digest is not recomputed. Only the
    /// container start path skips it: every blob was verified before it was renamed into the store, the store is
    /// root-only (0700), and hashing there would load OpenSSL into every <c>tinyort run</c> (≈ 3 ms measured).
    /// </summary>
    public byte[] ReadBlob(Digest d, int max, bool verify)
    {
        var path = BlobPath(d);
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new RtException($"blob {d} is missing from the store {Root.Path}");
            if (info.Length > max) throw new RtException($"blob {d} is larger than {max} bytes");
            data = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new RtException($"blob {d} is missing from the store {Root.Path}");
        }
        if (data.Length > max) throw new RtException($"blob {d} is larger than {max} bytes");
        if (verify && Digest.Compute(data) != d) throw new RtException($"blob {d} in the store is corrupt (digest mismatch)");
        return data;
    }

    /// <summary>Stores <paramref name="data"/> as blob <paramref name="expected"/> after checking its digest.</summary>
    public void WriteBlob(ReadOnlySpan<byte> data, Digest expected)
    {
        var actual = Digest.Compute(data);
        if (actual != expected) throw new RtException($"digest mismatch: expected {expected}, content is {actual}");
        if (HasBlob(expected)) return;
        EnsureLayout();
        var tmp = Path.Combine(Root.Tmp, $"blob-{expected.Hex}.{Environment.ProcessId}.{Random.Shared.Next():x8}.partial");
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                f.Write(data);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, BlobPath(expected), overwrite: true);
            Libc.FsyncDirectory(Root.Blobs);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Moves a verified temp file into the store as blob <paramref name="d"/> (fsync first).</summary>
    internal void CommitBlobFile(string tmpPath, Digest d)
    {
        File.Move(tmpPath, BlobPath(d), overwrite: true);
        Libc.FsyncDirectory(Root.Blobs);
    }

    /// <summary>
    /// Unpacks stored blob <paramref name="blob"/> into the layer directory of <paramref name="diffId"/> and checks
    /// the diff_id. The caller holds <c>layer-DIFFID.lock</c>; a temp dir a killed unpack of this layer left behind
    /// is therefore stale and removed first.
    /// </summary>
    internal async Task UnpackLayerLockedAsync(Digest blob, string? mediaType, Digest diffId, CancellationToken ct)
    {
        if (HasLayer(diffId)) return;
        foreach (var dir in Directory.EnumerateDirectories(Root.Layers, "." + diffId.Hex + ".partial-*"))
            ImageGc.DeleteTree(dir);
        var dest = LayerPath(diffId);
        Digest got;
        await using (var f = new FileStream(BlobPath(blob), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            got = await LayerUnpacker.UnpackAsync(f, mediaType ?? MediaTypes.OciLayer, dest, ct).ConfigureAwait(false);
        }
        if (got != diffId)
        {
            ImageGc.DeleteTree(dest);
            throw new RtException($"layer {blob}: digest mismatch: unpacked content has diff_id {got}, the image config says {diffId}");
        }
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the store as blob <paramref name="expected"/>, hashing as it copies;
    /// the blob appears only if size (when known, ≥ 0) and sha256 match. Serialised by <c>blob-HEX.lock</c>.
    /// </summary>
    internal async Task ImportBlobAsync(Stream source, Digest expected, long size, CancellationToken ct)
    {
        if (HasBlob(expected)) return;
        EnsureLayout();
        using var l = await LockAsync("blob-" + expected.Hex, exclusive: true, ct).ConfigureAwait(false);
        if (HasBlob(expected)) return;
        var tmp = Path.Combine(Root.Tmp, $"import-{expected.Hex}.{Environment.ProcessId}.partial");
        try
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(128 << 10);
            long total = 0;
            try
            {
                await using var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
                int n;
                while ((n = await source.ReadAsync(buffer.AsMemory(0, 128 << 10), ct).ConfigureAwait(false)) > 0)
                {
                    total += n;
                    if (size >= 0 && total > size) throw new RtException($"blob {expected} is larger than the {size} bytes its descriptor declares");
                    hash.AppendData(buffer, 0, n);
                    await f.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
                f.Flush(flushToDisk: true);
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            if (size >= 0 && total != size) throw new RtException($"blob {expected} has {total} bytes, its descriptor declares {size}");
            Span<byte> h = stackalloc byte[32];
            hash.GetHashAndReset(h);
            var got = Digest.FromHash(h);
            if (got != expected) throw new RtException($"blob {expected}: digest mismatch: content has digest {got}");
            CommitBlobFile(tmp, expected);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Every named image, in name order.</summary>
    public IReadOnlyList<ImageRecord> ListImages()
    {
        var refs = ReadRefs();
        refs.Images.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return refs.Images;
    }

    /// <summary>Adds or replaces the record named <see cref="ImageRecord.Name"/>, atomically, under refs.lock.</summary>
    public async Task SetImageAsync(ImageRecord record, CancellationToken ct = default)
    {
        using var l = await LockAsync("refs", exclusive: true, ct).ConfigureAwait(false);
        var refs = ReadRefs();
        refs.Images.RemoveAll(r => r.Name == record.Name);
        refs.Images.Add(record);
        WriteRefs(refs);
    }

    /// <summary>Removes the records matched by <paramref name="nameOrId"/>; returns what was removed.</summary>
    public async Task<List<ImageRecord>> RemoveImagesAsync(string nameOrId, CancellationToken ct = default)
    {
        using var l = await LockAsync("refs", exclusive: true, ct).ConfigureAwait(false);
        var refs = ReadRefs();
        var matched = Match(refs.Images, nameOrId);
        if (matched.Count == 0) throw new RtException($"no such image: {Manifest.Trunc(nameOrId)}");
        refs.Images.RemoveAll(matched.Contains);
        WriteRefs(refs);
        return matched;
    }

    /// <summary>Finds one image by name (normalised), manifest/index digest, or image id (config digest) prefix.</summary>
    public ImageRecord Find(string nameOrId)
    {
        var m = Match(ReadRefs().Images, nameOrId);
        if (m.Count == 0) throw new RtException($"no such image: {Manifest.Trunc(nameOrId)}");
        if (m.Count > 1 && m.Exists(r => r.Config != m[0].Config))
            throw new RtException($"'{Manifest.Trunc(nameOrId)}' matches several images; use a longer id or the full name");
        return m[0];
    }

    /// <summary>Loads the manifest, config and layer directories of a stored image (for inspect and for run).</summary>
    public StoredImage Load(ImageRecord record)
    {
        var manifestDigest = Digest.Parse(record.Manifest);
        // Verified when stored (see ReadBlob): not re-hashed on the start path.
        var manifest = Manifest.Parse(ReadBlob(manifestDigest, Manifest.MaxSize, verify: false), null, record.Name);
        var configDigest = Digest.Parse(manifest.Config!.Digest);
        var config = ImageConfig.Parse(ReadBlob(configDigest, ImageConfig.MaxSize, verify: false), record.Name);
        var layers = new List<string>(config.RootFs!.DiffIds!.Count);
        foreach (var id in config.RootFs.DiffIds)
        {
            var path = LayerPath(Digest.Parse(id));
            if (!Directory.Exists(path)) throw new RtException($"image {record.Name}: layer {id} is missing from the store; pull it again");
            layers.Add(path);
        }
        return new StoredImage(record, manifest, config, configDigest, layers);
    }

    private static List<ImageRecord> Match(List<ImageRecord> images, string nameOrId)
    {
        var result = new List<ImageRecord>();
        if (ImageReference.TryParse(nameOrId, out var r))
        {
            var canonical = r!.ToString();
            foreach (var i in images)
                if (i.Name == canonical) result.Add(i);
            if (result.Count > 0) return result;
        }
        var hex = nameOrId.StartsWith("sha256:", StringComparison.Ordinal) ? nameOrId[7..] : nameOrId;
        if (hex.Length is >= 4 and <= 64 && hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
        {
            foreach (var i in images)
                if (HexOf(i.Config).StartsWith(hex, StringComparison.Ordinal) || HexOf(i.Digest).StartsWith(hex, StringComparison.Ordinal))
                    result.Add(i);
        }
        return result;
    }

    private static string HexOf(string? digest) => digest is { Length: 71 } ? digest[7..] : "";

    internal RefsFile ReadRefs()
    {
        try
        {
            using var f = File.OpenRead(RefsPath);
            if (f.Length > MaxRefsFile) throw new RtException($"{RefsPath} is larger than 64 MiB");
            var refs = JsonSerializer.Deserialize(f, ImageJsonContext.Default.RefsFile) ?? new RefsFile();
            refs.Images ??= [];
            refs.Images.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return refs;
        }
        catch (FileNotFoundException)
        {
            return new RefsFile();
        }
        catch (DirectoryNotFoundException)
        {
            return new RefsFile();
        }
        catch (JsonException e)
        {
            throw new RtException($"{RefsPath} is corrupt: {e.Message}");
        }
    }

    private void WriteRefs(RefsFile refs)
    {
        EnsureLayout();
        var tmp = Path.Combine(Root.Tmp, $"refs.{Environment.ProcessId}.{Random.Shared.Next():x8}.partial");
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(f, refs, ImageJsonContext.Default.RefsFile);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, RefsPath, overwrite: true);
            Libc.FsyncDirectory(Path.GetDirectoryName(RefsPath)!);
        }
        finally
        {
            File.Delete(tmp);
        }
    }
}

/// <summary>One named image in refs.json.</summary>
public sealed class ImageRecord
{
    /// <summary>Canonical reference (<c>docker.io/library/alpine:latest</c> or <c>…@sha256:…</c>).</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>Digest the registry knows the image by (the index's, for a multi-platform image).</summary>
    [JsonPropertyName("digest")] public string Digest { get; set; } = "";
    /// <summary>Digest of the platform manifest in use.</summary>
    [JsonPropertyName("manifest")] public string Manifest { get; set; } = "";
    /// <summary>Image id: the config's digest.</summary>
    [JsonPropertyName("config")] public string Config { get; set; } = "";
    /// <summary>Total compressed size of config and layers.</summary>
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>When it was pulled or loaded (UTC, RFC 3339).</summary>
    [JsonPropertyName("pulled")] public string? Pulled { get; set; }
}

internal sealed class RefsFile
{
    [JsonPropertyName("images")] public List<ImageRecord> Images { get; set; } = [];
}

/// <summary>An image resolved from the store: what <c>inspect</c> shows and what a container is made from.</summary>
public sealed record StoredImage(ImageRecord Record, Manifest Manifest, ImageConfig Config, Digest ConfigDigest,
    IReadOnlyList<string> LayerDirs);
