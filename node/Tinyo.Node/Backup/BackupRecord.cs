namespace Tinyo.Node.Backup;

/// <summary>
/// The records inside the encrypted stream, in this order: one <see cref="Manifest"/>, one <see cref="KvSnapshot"/>,
/// any <see cref="File"/>s, then <see cref="End"/>. Each is <c>[u8 type][u16 name length][name, UTF-8]</c> followed by
/// segments <c>[u32 length][bytes]</c> (1 byte to 1 MiB each) ended by a zero length, so a writer streams content of
/// any size without knowing it first.
/// </summary>
public enum BackupRecordType : byte
{
    /// <summary>The last record; the plain stream must end right after it.</summary>
    End = 0,

    /// <summary>The JSON <see cref="BackupManifest"/> (≤ 1 MiB).</summary>
    Manifest = 1,

    /// <summary>The KV snapshot (tinyokv's snapshot file: one revision of every key, leases included).</summary>
    KvSnapshot = 2,

    /// <summary>A node file, named by its path under the node's root (<see cref="BackupRecords.NodeFiles"/>).</summary>
    File = 3,
}

/// <summary>The record framing's constants and rules, shared by writer and reader.</summary>
public static class BackupRecords
{
    /// <summary>The largest segment.</summary>
    public const int MaxSegment = 1 << 20;

    /// <summary>The largest record name in bytes.</summary>
    public const int MaxName = 255;

    /// <summary>The largest manifest or node file.</summary>
    public const int MaxSmallRecord = 1 << 20;

    /// <summary>
    /// The node files a backup carries, by path under the node's root: the secrets key and the cluster's PKI (CA and
    /// this node's certificate). Nothing else may be restored into the root: a name outside this list is malformed.
    /// </summary>
    public static readonly IReadOnlyList<string> NodeFiles = ["node.key", "pki/ca.crt", "pki/ca.key", "pki/node.crt", "pki/node.key"];
}
