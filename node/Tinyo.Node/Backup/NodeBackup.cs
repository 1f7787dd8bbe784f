using Tinyo.Api;
using Tinyo.Node.Store;

namespace Tinyo.Node.Backup;

/// <summary>
/// What <c>POST /v1/backup</c> writes: the KV's snapshot (tinyokv's own snapshot file: every key at one revision,
/// consistent by construction), the node files (<see cref="BackupRecords.NodeFiles"/>: the key that seals the
/// secrets, the cluster CA and this node's certificate) and a manifest (apps, image references with the digests held
/// here, secret and user names). Named volumes: none exist in Tinyo (apps bind host paths, which are not copied).
/// The snapshot goes to a 0600 file under the node's root first, so a KV failure is an error answer, not a broken
/// stream; it is deleted when the backup has been written or has failed.
/// </summary>
public sealed class NodeBackup(NodeOptions options, StateStore store) : IDisposable
{
    private string? snapshot;
    private BackupManifest? manifest;

    /// <summary>Takes the snapshot and reads the manifest's facts; call before the answer starts.</summary>
    public async Task PrepareAsync(string admin, CancellationToken ct)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        var revision = await store.RevisionAsync(ct).ConfigureAwait(false);
        snapshot = Path.Combine(options.Root, $"backup-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}.snap.part");
        await using (var fs = new FileStream(snapshot, new FileStreamOptions
                     {
                         Mode = FileMode.CreateNew, Access = FileAccess.Write,
                         UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                     }))
        {
            await new KvMemberStore(store).SnapshotAsync(fs, ct).ConfigureAwait(false);
        }
        var apps = (await store.ListAsync(Keys.Apps, ApiJson.Default.AppRecord, ct).ConfigureAwait(false))
            .Select(a => new BackupApp(a.Name, a.Value.Spec.Image, a.Value.Spec.Replicas)).ToList();
        var secrets = (await store.ListAsync(Keys.Secrets, StoreJson.Default.StoredSecret, ct).ConfigureAwait(false)).Select(s => s.Name).ToList();
        var users = (await store.ListAsync(Keys.Users, StoreJson.Default.StoredUser, ct).ConfigureAwait(false)).Select(u => u.Name).ToList();
        var net = await new ClusterInit(store).NetAsync(ct).ConfigureAwait(false);
        var images = apps.Select(a => a.Image).Distinct(StringComparer.Ordinal).Select(i => new BackupImage(i, LocalDigest(i))).ToList();
        manifest = new BackupManifest(BackupHeader.CurrentVersion, Api.NodeApi.Version, DateTimeOffset.UtcNow, options.Name, net, admin, revision,
            apps, secrets, users, images, [.. Files().Select(f => f.Name)], []);
    }

    /// <summary>Encrypts everything into <paramref name="output"/> under <paramref name="passphrase"/>.</summary>
    public async Task WriteAsync(Stream output, string passphrase, CancellationToken ct)
    {
        if (manifest is null || snapshot is null) throw new InvalidOperationException("PrepareAsync first");
        using var writer = await BackupWriter.CreateAsync(output, passphrase, ct).ConfigureAwait(false);
        await writer.WriteManifestAsync(manifest, ct).ConfigureAwait(false);
        await using (var snap = File.OpenRead(snapshot))
            await writer.WriteAsync(BackupRecordType.KvSnapshot, "", snap, ct).ConfigureAwait(false);
        foreach (var (name, path) in Files())
            await writer.WriteAsync(BackupRecordType.File, name, File.ReadAllBytes(path), ct).ConfigureAwait(false);
        await writer.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The node files present here, by their name in the backup and their path.</summary>
    private IEnumerable<(string Name, string Path)> Files()
    {
        var pki = options.Pki ?? new Tinyo.Api.Cluster.ClusterPki(Path.Combine(options.Root, "pki"));
        (string, string)[] all =
        [
            ("node.key", Path.Combine(options.Root, "node.key")),
            ("pki/ca.crt", pki.CaCert), ("pki/ca.key", pki.CaKey), ("pki/node.crt", pki.NodeCert), ("pki/node.key", pki.NodeKey),
        ];
        return all.Where(f => File.Exists(f.Item2));
    }

    /// <summary>The manifest digest the node's image store holds for a reference, or null.</summary>
    private string? LocalDigest(string reference)
    {
        try
        {
            var wanted = Rt.Images.ImageReference.Parse(reference).ToString();
            var images = new Rt.Images.ImageStore(new Rt.RuntimeRoot(Path.Combine(options.Root, "rt"))).ListImages();
            return images.FirstOrDefault(i => i.Name == wanted || i.Name == reference)?.Digest;
        }
        catch (Exception e) when (e is Rt.RtException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Deletes the snapshot file.</summary>
    public void Dispose()
    {
        if (snapshot is not null) File.Delete(snapshot);
    }
}
