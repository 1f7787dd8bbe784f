using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Tinyo.Node.Backup;

/// <summary>
/// Parses the records of a backup's plain stream and checks their order and bounds: one manifest first, one KV
/// snapshot, node files only from <see cref="BackupRecords.NodeFiles"/> and each once, the end record last and
/// nothing after it. Content goes to the <see cref="IBackupSink"/> segment by segment. Everything reaching this
/// parser was authenticated, but it is still untrusted (a writer with the passphrase may be hostile, and the fuzz
/// target feeds it raw bytes): every length is bounded before it is used, and only <see cref="BackupException"/> escapes.
/// </summary>
public sealed class RecordReader(IPlainSource source, IBackupSink sink, BackupLimits limits)
{
    private readonly byte[] segment = new byte[BackupRecords.MaxSegment];

    /// <summary>Reads every record; returns the manifest.</summary>
    public BackupManifest ReadAll()
    {
        BackupManifest? manifest = null;
        var kv = false;
        var files = new HashSet<string>(StringComparer.Ordinal);
        Span<byte> head = stackalloc byte[3];
        Span<byte> one = stackalloc byte[1];
        for (var i = 0; ; i++)
        {
            Exactly(head, $"record {i}'s head");
            var type = (BackupRecordType)head[0];
            var nameLen = BinaryPrimitives.ReadUInt16BigEndian(head[1..]);
            if (nameLen > BackupRecords.MaxName) throw Malformed($"record {i}'s name is {nameLen} bytes (at most {BackupRecords.MaxName})");
            var nameBytes = new byte[nameLen];
            Exactly(nameBytes, $"record {i}'s name");
            string name;
            try
            {
                name = new UTF8Encoding(false, true).GetString(nameBytes);
            }
            catch (DecoderFallbackException)
            {
                throw Malformed($"record {i}'s name is not UTF-8");
            }
            if (i == 0 && type != BackupRecordType.Manifest) throw Malformed("the first record is not the manifest");
            switch (type)
            {
                case BackupRecordType.End:
                    if (name.Length > 0) throw Malformed("the end record has a name");
                    Content(i, 0, Stream.Null);
                    if (!kv) throw Malformed("no KV snapshot record");
                    if (source.Read(one) > 0) throw Malformed("data follows the end record");
                    return manifest!;
                case BackupRecordType.Manifest:
                    if (i != 0) throw Malformed($"record {i} is a second manifest");
                    if (name.Length > 0) throw Malformed("the manifest record has a name");
                    var ms = new MemoryStream();
                    Content(i, BackupRecords.MaxSmallRecord, ms);
                    manifest = ParseManifest(ms.ToArray());
                    sink.Manifest(manifest);
                    break;
                case BackupRecordType.KvSnapshot:
                    if (kv) throw Malformed($"record {i} is a second KV snapshot");
                    if (name.Length > 0) throw Malformed("the KV snapshot record has a name");
                    kv = true;
                    using (var s = sink.Open(type, name)) Content(i, limits.MaxRecordBytes, s);
                    break;
                case BackupRecordType.File:
                    if (!BackupRecords.NodeFiles.Contains(name)) throw Malformed($"record {i} names a file the backup may not hold: '{Tinyo.Api.Statefile.Printable.Escape(name)}'");
                    if (!files.Add(name)) throw Malformed($"record {i} repeats the file {name}");
                    using (var s = sink.Open(type, name)) Content(i, BackupRecords.MaxSmallRecord, s);
                    break;
                default:
                    throw Malformed($"record {i} has an unknown type {head[0]}");
            }
        }
    }

    /// <summary>Reads a record's segments into <paramref name="output"/>, at most <paramref name="max"/> bytes in all.</summary>
    private void Content(int record, long max, Stream output)
    {
        long total = 0;
        Span<byte> len = stackalloc byte[4];
        while (true)
        {
            Exactly(len, $"record {record}'s segment length");
            var n = BinaryPrimitives.ReadInt32BigEndian(len);
            if (n == 0) return;
            if (n < 0 || n > BackupRecords.MaxSegment) throw Malformed($"record {record} has a segment of {n} bytes (at most {BackupRecords.MaxSegment})");
            total += n;
            if (total > max) throw Malformed($"record {record} holds more than {max} bytes");
            Exactly(segment.AsSpan(0, n), $"record {record}'s content");
            try
            {
                output.Write(segment, 0, n);
            }
            catch (IOException e)
            {
                throw new BackupException($"writing record {record}: {e.Message}");
            }
        }
    }

    private static BackupManifest ParseManifest(byte[] json)
    {
        BackupManifest? m;
        try
        {
            m = JsonSerializer.Deserialize(json, BackupJson.Default.BackupManifest);
        }
        catch (JsonException e)
        {
            throw Malformed($"the manifest is not valid JSON: {e.Message}");
        }
        if (m is null || m.Apps is null || m.Secrets is null || m.Users is null || m.Images is null || m.Files is null || m.Volumes is null || m.Node is null || m.Tinyo is null)
            throw Malformed("the manifest lacks a field");
        if (m.Apps.Any(a => a is null || a.Name is null || a.Image is null) || m.Images.Any(i => i is null || i.Reference is null)
            || m.Secrets.Contains(null!) || m.Users.Contains(null!) || m.Files.Contains(null!) || m.Volumes.Contains(null!))
            throw Malformed("the manifest has an empty entry");
        if (m.Format != BackupHeader.CurrentVersion) throw Malformed($"the manifest says format {m.Format}, the header {BackupHeader.CurrentVersion}");
        return m;
    }

    private void Exactly(Span<byte> dest, string what)
    {
        var total = 0;
        while (total < dest.Length)
        {
            var n = source.Read(dest[total..]);
            if (n == 0) throw Malformed($"the contents end inside {what}");
            total += n;
        }
    }

    private static BackupException Malformed(string what) => new($"the backup's contents are malformed: {what}");
}

/// <summary>Where a reader puts what it reads: the manifest, and a stream per content record.</summary>
public interface IBackupSink
{
    /// <summary>The manifest, as soon as it is read.</summary>
    void Manifest(BackupManifest manifest);

    /// <summary>A stream for a record's content (disposed when the record ends).</summary>
    Stream Open(BackupRecordType type, string name);
}

/// <summary>A sink that keeps nothing: a whole file is read and checked, nothing is written.</summary>
public sealed class VerifyingSink : IBackupSink
{
    /// <inheritdoc/>
    public void Manifest(BackupManifest manifest)
    {
    }

    /// <inheritdoc/>
    public Stream Open(BackupRecordType type, string name) => Stream.Null;
}
