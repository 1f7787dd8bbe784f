namespace Tinyo.Rt.Images;

/// <summary>What a garbage collection removed.</summary>
public sealed record GcResult(int Blobs, int Layers, int TempEntries, long BytesFreed);

/// <summary>
/// Garbage collection of the image store: deletes blobs and unpacked layers no named image references, every entry
/// of <c>tmp/</c>, and unpack temp dirs (<c>.HEX.partial-*</c>) left by killed processes. It holds
/// <c>store.lock</c> exclusively, so no pull is running and nothing it removes can be in use by one.
/// </summary>
public sealed class ImageGc(ImageStore store)
{
    /// <summary>Collects garbage; returns counts.</summary>
    public async Task<GcResult> CollectAsync(CancellationToken ct = default)
    {
        var root = store.Root;
        if (!Directory.Exists(Path.Combine(root.Path, "images"))) return new GcResult(0, 0, 0, 0);
        store.EnsureLayout();
        using var l = await store.LockAsync("store", exclusive: true, ct).ConfigureAwait(false);

        var liveBlobs = new HashSet<string>(StringComparer.Ordinal);
        var liveLayers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rec in store.ReadRefs().Images)
        {
            // A record whose blobs are damaged keeps what can still be read; the rest goes.
            if (Digest.TryParse(rec.Digest, out var top))
            {
                liveBlobs.Add(top.Hex);
                if (store.HasBlob(top)) MarkManifest(top, liveBlobs, liveLayers);
            }
            if (Digest.TryParse(rec.Manifest, out var m))
            {
                liveBlobs.Add(m.Hex);
                if (store.HasBlob(m)) MarkManifest(m, liveBlobs, liveLayers);
            }
        }

        int blobs = 0, layers = 0, temps = 0;
        long freed = 0;
        foreach (var f in Directory.EnumerateFiles(root.Blobs))
        {
            if (liveBlobs.Contains(Path.GetFileName(f))) continue;
            freed += new FileInfo(f).Length;
            File.Delete(f);
            blobs++;
        }
        foreach (var d in Directory.EnumerateDirectories(root.Layers))
        {
            var name = Path.GetFileName(d);
            if (liveLayers.Contains(name)) continue;
            DeleteTree(d);
            if (name.StartsWith('.')) temps++;
            else layers++;
        }
        foreach (var e in Directory.EnumerateFileSystemEntries(root.Tmp))
        {
            if (Directory.Exists(e) && !File.GetAttributes(e).HasFlag(FileAttributes.ReparsePoint)) DeleteTree(e);
            else File.Delete(e);
            temps++;
        }
        // Per-digest lock files: nobody holds them while we hold store.lock exclusively.
        foreach (var f in Directory.EnumerateFiles(root.Locks, "*.lock"))
        {
            var n = Path.GetFileName(f);
            if (n.StartsWith("blob-", StringComparison.Ordinal) || n.StartsWith("layer-", StringComparison.Ordinal)) File.Delete(f);
        }
        return new GcResult(blobs, layers, temps, freed);
    }

    private void MarkManifest(Digest d, HashSet<string> blobs, HashSet<string> layers)
    {
        Manifest m;
        try
        {
            m = Manifest.Parse(store.ReadBlob(d, Manifest.MaxSize), null, d.ToString());
        }
        catch (RtException)
        {
            return;
        }
        if (MediaTypes.IsIndex(m.MediaType))
        {
            // Only the platform manifest we pulled is recorded separately; other entries were never fetched.
            return;
        }
        foreach (var l in m.Layers!) blobs.Add(Digest.Parse(l.Digest).Hex);
        var cd = Digest.Parse(m.Config!.Digest);
        blobs.Add(cd.Hex);
        try
        {
            var c = ImageConfig.Parse(store.ReadBlob(cd, ImageConfig.MaxSize), cd.ToString());
            foreach (var id in c.RootFs!.DiffIds!) layers.Add(Digest.Parse(id).Hex);
        }
        catch (RtException)
        {
        }
    }

    /// <summary>
    /// Deletes a directory tree without following symlinks (layers contain hostile ones) and including names that are
    /// not valid UTF-8 (via <see cref="LayerUnpacker.DeleteLayer"/>); a symlink or file is just unlinked; no error if absent.
    /// </summary>
    public static void DeleteTree(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || (info.Exists && !info.Attributes.HasFlag(FileAttributes.Directory)))
        {
            info.Delete();
            return;
        }
        LayerUnpacker.DeleteLayer(path);
    }
}
