using System.Text.Json.Serialization;

namespace Tinyo.Node.Backup;

/// <summary>
/// The first record of a backup: what it holds, for <c>tio restore</c> to report and check before anything is
/// written. The KV snapshot is the state; this is its summary (read from the KV at the moment of the backup).
/// </summary>
/// <param name="Format">The backup format version (<see cref="BackupHeader.CurrentVersion"/>).</param>
/// <param name="Tinyo">The version of the node that wrote it.</param>
/// <param name="Created">When.</param>
/// <param name="Node">The node that wrote it.</param>
/// <param name="Net">The cluster's first net (what <c>tio ++ -net</c> named).</param>
/// <param name="Admin">The admin who made the backup (the user <c>tio restore</c> logs in as by default).</param>
/// <param name="KvRevision">The KV's revision when the snapshot was asked for.</param>
/// <param name="Apps">The apps of the desired state.</param>
/// <param name="Secrets">The secrets' names (their values are in the snapshot, sealed under the node key).</param>
/// <param name="Users">The users' names.</param>
/// <param name="Images">The images the apps name, with the digest this node holds for each.</param>
/// <param name="Files">The node files in the backup (node key, cluster CA and certificate).</param>
/// <param name="Volumes">Named volumes in the backup: none (Tinyo has bind mounts only; their host paths are not copied).</param>
public sealed record BackupManifest(
    int Format, string Tinyo, DateTimeOffset Created, string Node, string? Net, string? Admin, long KvRevision,
    List<BackupApp> Apps, List<string> Secrets, List<string> Users, List<BackupImage> Images, List<string> Files, List<string> Volumes);

/// <summary>An app in the backup.</summary>
/// <param name="Name">The app.</param>
/// <param name="Image">Its image reference as the statefile names it.</param>
/// <param name="Replicas">Its replica count.</param>
public sealed record BackupApp(string Name, string Image, int Replicas);

/// <summary>An image reference and the manifest digest the backing-up node held for it (null: not pulled there).</summary>
/// <param name="Reference">The reference as the apps name it.</param>
/// <param name="Digest">sha256:… or null.</param>
public sealed record BackupImage(string Reference, string? Digest);

/// <summary>Source-generated JSON for the manifest (snake_case, as the API).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BackupManifest))]
public sealed partial class BackupJson : JsonSerializerContext;
