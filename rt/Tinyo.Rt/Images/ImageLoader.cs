using System.Formats.Tar;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tinyo.Rt.Images;

/// <summary>
/// <c>tinyort load</c>: imports an OCI image layout directory (or tarball of one) or a <c>docker save</c> tarball
/// (legacy <c>ID/layer.tar</c> or Docker 25+'s OCI-shaped one, named by <c>manifest.json</c>). Every blob is hashed
/// as it is copied in and each unpacked layer's diff_id is checked, exactly as for a pull; the input is untrusted.
/// </summary>
public sealed class ImageLoader(ImageStore store)
{
    private const int MaxEntries = 100_000;
    private const int MaxJson = 8 << 20;

    /// <summary>
    /// Loads every image of <paramref name="path"/>. <paramref name="name"/> names an image whose layout gives only a
    /// tag or no name (default <c>localhost/NAME-OF-PATH</c>).
    /// </summary>
    public async Task<List<ImageRecord>> LoadAsync(string path, string? name = null, CancellationToken ct = default)
    {
        store.EnsureLayout();
        using var storeLock = await store.LockAsync("store", exclusive: false, ct).ConfigureAwait(false);
        var fallbackRepo = name ?? "localhost/" + Sanitise(Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(path)));
        if (Directory.Exists(path))
            return await LoadFromAsync(new DirSource(path), fallbackRepo, ct).ConfigureAwait(false);
        if (!File.Exists(path)) throw new RtException($"{path}: no such file or directory");
        using var tar = await TarSource.ExtractAsync(path, store.Root.Tmp, ct).ConfigureAwait(false);
        return await LoadFromAsync(tar, fallbackRepo, ct).ConfigureAwait(false);
    }

    private async Task<List<ImageRecord>> LoadFromAsync(ISource src, string fallbackRepo, CancellationToken ct)
    {
        if (src.Exists("manifest.json")) return await LoadDockerAsync(src, ct).ConfigureAwait(false);
        if (src.Exists("index.json")) return await LoadOciAsync(src, fallbackRepo, ct).ConfigureAwait(false);
        throw new RtException($"{src.Name}: neither an OCI image layout (index.json) nor a docker save archive (manifest.json)");
    }

    private async Task<List<ImageRecord>> LoadOciAsync(ISource src, string fallbackRepo, CancellationToken ct)
    {
        var index = Manifest.Parse(src.ReadAll("index.json", Manifest.MaxSize), MediaTypes.OciIndex, src.Name + " index.json");
        if (!MediaTypes.IsIndex(index.MediaType)) throw new RtException($"{src.Name}: index.json is not an image index");
        var result = new List<ImageRecord>();
        foreach (var entry in index.Manifests!)
        {
            var refName = entry.Annotations?.GetValueOrDefault("org.opencontainers.image.ref.name");
            string imageName;
            if (refName is not null && (refName.Contains('/') || refName.Contains('@'))) imageName = ImageReference.Parse(refName).ToString();
            else imageName = ImageReference.Parse(fallbackRepo + ":" + (refName ?? "latest")).ToString();
            var top = Digest.Parse(entry.Digest);
            var topBytes = ReadBlob(src, top, Manifest.MaxSize);
            var manifest = Manifest.Parse(topBytes, entry.MediaType, $"{src.Name} {top}");
            var blobs = new List<(byte[], Digest)> { (topBytes, top) };
            var manifestDigest = top;
            if (MediaTypes.IsIndex(manifest.MediaType))
            {
                var chosen = Platform.Select(manifest.Manifests!, Platform.Host)
                    ?? throw new RtException($"{src.Name}: {imageName} has no image for {Platform.Host}");
                manifestDigest = Digest.Parse(chosen.Digest);
                var mb = ReadBlob(src, manifestDigest, Manifest.MaxSize);
                manifest = Manifest.Parse(mb, chosen.MediaType, $"{src.Name} {manifestDigest}");
                if (!MediaTypes.IsManifest(manifest.MediaType)) throw new RtException($"{src.Name}: {manifestDigest} is not an image manifest");
                blobs.Add((mb, manifestDigest));
            }
            var layers = new List<(Descriptor, Func<Stream>)>();
            foreach (var l in manifest.Layers!)
            {
                var d = Digest.Parse(l.Digest);
                layers.Add((l, () => src.Open(BlobName(d))));
            }
            result.Add(await CommitAsync(src, [imageName], top, manifestDigest, manifest, blobs, layers, ct).ConfigureAwait(false));
        }
        return result;
    }

    private async Task<List<ImageRecord>> LoadDockerAsync(ISource src, CancellationToken ct)
    {
        List<DockerSaveEntry>? entries;
        try
        {
            entries = JsonSerializer.Deserialize(src.ReadAll("manifest.json", MaxJson), ImageJsonContext.Default.ListDockerSaveEntry);
        }
        catch (JsonException e)
        {
            throw new RtException($"{src.Name}: manifest.json is not valid JSON ({e.Message})");
        }
        if (entries is null || entries.Count == 0) throw new RtException($"{src.Name}: manifest.json lists no images");
        var result = new List<ImageRecord>();
        foreach (var e in entries)
        {
            if (e.Config is null || e.Layers is null) throw new RtException($"{src.Name}: manifest.json entry without Config or Layers");
            var names = new List<string>();
            foreach (var t in e.RepoTags ?? []) names.Add(ImageReference.Parse(t).ToString());
            if (names.Count == 0) throw new RtException($"{src.Name}: image {Manifest.Trunc(e.Config)} has no RepoTags; load it from an OCI layout with --name");
            var configBytes = src.ReadAll(e.Config, ImageConfig.MaxSize);
            var configDigest = Digest.Compute(configBytes);
            var layerDescs = new List<(Descriptor, Func<Stream>)>();
            var manifest = new Manifest
            {
                SchemaVersion = 2,
                MediaType = MediaTypes.DockerManifest,
                Config = new Descriptor { MediaType = MediaTypes.DockerConfig, Digest = configDigest.ToString(), Size = configBytes.Length },
                Layers = [],
            };
            foreach (var lp in e.Layers)
            {
                var layerPath = lp;
                Digest d;
                long size;
                string mediaType;
                await using (var s = src.Open(layerPath))
                {
                    var magic = new byte[4];
                    var got = await s.ReadAtLeastAsync(magic, 4, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                    mediaType = got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b ? MediaTypes.DockerLayerGzip
                        : got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd ? MediaTypes.OciLayerZstd
                        : MediaTypes.DockerLayer;
                    s.Position = 0;
                    d = Digest.FromHash(await System.Security.Cryptography.SHA256.HashDataAsync(s, ct).ConfigureAwait(false));
                    size = s.Length;
                }
                var desc = new Descriptor { MediaType = mediaType, Digest = d.ToString(), Size = size };
                manifest.Layers.Add(desc);
                layerDescs.Add((desc, () => src.Open(layerPath)));
            }
            var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, ImageJsonContext.Default.Manifest);
            var md = Digest.Compute(manifestBytes);
            result.Add(await CommitAsync(src, names, md, md, manifest, [(manifestBytes, md), (configBytes, configDigest)], layerDescs, ct).ConfigureAwait(false));
        }
        return result;
    }

    private async Task<ImageRecord> CommitAsync(ISource src, List<string> names, Digest top, Digest manifestDigest, Manifest manifest,
        List<(byte[] Data, Digest Digest)> blobs, List<(Descriptor Desc, Func<Stream> Open)> layers, CancellationToken ct)
    {
        var configDigest = Digest.Parse(manifest.Config!.Digest);
        var configBytes = blobs.Find(b => b.Digest == configDigest).Data ?? ReadBlob(src, configDigest, ImageConfig.MaxSize);
        if (configBytes.Length != manifest.Config.Size) throw new RtException($"{src.Name}: config {configDigest} size differs from its descriptor");
        var config = ImageConfig.Parse(configBytes, $"{src.Name} {configDigest}");
        var diffIds = config.RootFs!.DiffIds!;
        if (diffIds.Count != layers.Count) throw new RtException($"{src.Name}: manifest has {layers.Count} layers but the config lists {diffIds.Count} diff_ids");
        long size = configBytes.Length;
        for (var i = 0; i < layers.Count; i++)
        {
            var (desc, open) = layers[i];
            var blob = Digest.Parse(desc.Digest);
            var diffId = Digest.Parse(diffIds[i]);
            size += desc.Size;
            if (store.HasLayer(diffId)) continue;
            using var layerLock = await store.LockAsync("layer-" + diffId.Hex, exclusive: true, ct).ConfigureAwait(false);
            if (store.HasLayer(diffId)) continue;
            if (!store.HasBlob(blob))
            {
                await using var s = open();
                await store.ImportBlobAsync(s, blob, desc.Size, ct).ConfigureAwait(false);
            }
            await store.UnpackLayerLockedAsync(blob, desc.MediaType, diffId, ct).ConfigureAwait(false);
        }
        if (!blobs.Exists(b => b.Digest == configDigest)) blobs.Add((configBytes, configDigest));
        foreach (var (data, d) in blobs) store.WriteBlob(data, d);
        ImageRecord? rec = null;
        foreach (var n in names)
        {
            rec = new ImageRecord
            {
                Name = n, Digest = top.ToString(), Manifest = manifestDigest.ToString(), Config = configDigest.ToString(), Size = size,
                Pulled = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            };
            await store.SetImageAsync(rec, ct).ConfigureAwait(false);
        }
        return rec!;
    }

    private static string BlobName(Digest d) => "blobs/sha256/" + d.Hex;

    private static byte[] ReadBlob(ISource src, Digest d, int max)
    {
        var data = src.ReadAll(BlobName(d), max);
        var got = Digest.Compute(data);
        if (got != d) throw new RtException($"{src.Name}: blob {d}: digest mismatch: content has digest {got}");
        return data;
    }

    private static string Sanitise(string s)
    {
        var chars = s.ToLowerInvariant().ToCharArray();
        for (var i = 0; i < chars.Length; i++)
            if (!char.IsAsciiLetterOrDigit(chars[i])) chars[i] = '-';
        var r = new string(chars).Trim('-');
        while (r.Contains("--", StringComparison.Ordinal)) r = r.Replace("--", "-", StringComparison.Ordinal);
        return r.Length == 0 ? "image" : r;
    }

    private interface ISource
    {
        string Name { get; }
        bool Exists(string name);
        Stream Open(string name);

        byte[] ReadAll(string name, int max)
        {
            using var s = Open(name);
            if (s.Length > max) throw new RtException($"{Name}: {Manifest.Trunc(name)} is larger than {max} bytes");
            var b = new byte[s.Length];
            s.ReadExactly(b);
            return b;
        }
    }

    /// <summary>Entry names are checked before use: relative, no <c>..</c>, no NUL.</summary>
    private static string CheckName(string source, string name)
    {
        var n = name.Replace('\\', '/');
        while (n.StartsWith("./", StringComparison.Ordinal)) n = n[2..];
        if (n.Length == 0 || n.Length > 4096 || n.StartsWith('/') || n.Contains('\0') || Array.Exists(n.Split('/'), p => p is ".." or ""))
            throw new RtException($"{source}: invalid path '{Manifest.Trunc(name)}' in the image");
        return n;
    }

    private sealed class DirSource(string dir) : ISource
    {
        public string Name => dir;
        public bool Exists(string name) => File.Exists(Path.Combine(dir, CheckName(dir, name)));

        public Stream Open(string name)
        {
            var p = Path.Combine(dir, CheckName(dir, name));
            try
            {
                return new FileStream(p, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new RtException($"{dir}: {Manifest.Trunc(name)} is missing");
            }
        }
    }

    /// <summary>A tarball's regular files copied to a temp dir (no file-system extraction of hostile paths).</summary>
    private sealed class TarSource : ISource, IDisposable
    {
        private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
        private readonly string _tmp;

        private TarSource(string name, string tmp)
        {
            Name = name;
            _tmp = tmp;
        }

        public string Name { get; }

        public static async Task<TarSource> ExtractAsync(string path, string tmpRoot, CancellationToken ct)
        {
            var tmp = Path.Combine(tmpRoot, "load-" + Guid.NewGuid().ToString("N")[..12] + ".partial");
            Directory.CreateDirectory(tmp);
            var src = new TarSource(path, tmp);
            try
            {
                var links = new List<(string Name, string Target)>();
                await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
                Stream input = f;
                var magic = new byte[2];
                if (f.Read(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
                {
                    f.Position = 0;
                    input = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionMode.Decompress);
                }
                else f.Position = 0;
                await using var reader = new TarReader(input);
                var count = 0;
                TarEntry? e;
                try
                {
                    while ((e = await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false)) is not null)
                    {
                        if (++count > MaxEntries) throw new RtException($"{path}: more than {MaxEntries} entries");
                        if (e.EntryType is TarEntryType.Directory or TarEntryType.GlobalExtendedAttributes) continue;
                        var n = CheckName(path, e.Name);
                        if (e.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                        {
                            // Legacy docker save links duplicate layers: resolve within the archive only.
                            var target = e.EntryType == TarEntryType.HardLink ? e.LinkName
                                : (n.Contains('/') ? n[..(n.LastIndexOf('/') + 1)] : "") + e.LinkName;
                            links.Add((n, Normalise(path, target)));
                            continue;
                        }
                        if (e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                        var file = Path.Combine(tmp, src._files.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        await using (var o = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                        {
                            if (e.DataStream is not null) await e.DataStream.CopyToAsync(o, ct).ConfigureAwait(false);
                        }
                        src._files[n] = file;
                    }
                }
                catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
                {
                    throw new RtException($"{path}: not a valid tar archive ({ex.Message})");
                }
                foreach (var (n, t) in links)
                    if (src._files.TryGetValue(t, out var target)) src._files.TryAdd(n, target);
                return src;
            }
            catch
            {
                src.Dispose();
                throw;
            }
        }

        private static string Normalise(string source, string path)
        {
            var parts = new List<string>();
            foreach (var p in path.Split('/'))
            {
                if (p is "" or ".") continue;
                if (p == "..")
                {
                    if (parts.Count == 0) throw new RtException($"{source}: link '{Manifest.Trunc(path)}' escapes the archive");
                    parts.RemoveAt(parts.Count - 1);
                }
                else parts.Add(p);
            }
            return string.Join('/', parts);
        }

        public bool Exists(string name) => _files.ContainsKey(CheckName(Name, name));

        public Stream Open(string name)
        {
            if (!_files.TryGetValue(CheckName(Name, name), out var f)) throw new RtException($"{Name}: {Manifest.Trunc(name)} is missing from the archive");
            return new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }

        public void Dispose() => ImageGc.DeleteTree(_tmp);
    }
}

/// <summary>One image of a <c>docker save</c> archive's manifest.json.</summary>
internal sealed class DockerSaveEntry
{
    [JsonPropertyName("Config")] public string? Config { get; set; }
    [JsonPropertyName("RepoTags")] public List<string>? RepoTags { get; set; }
    [JsonPropertyName("Layers")] public List<string>? Layers { get; set; }
}
