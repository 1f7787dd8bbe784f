using System.Buffers.Binary;
using System.Text;
using Tinyo.Node.Backup;

namespace Tinyo.Fuzz;

/// <summary>
/// The backup file reader (<c>tinyonode restore</c>, <see cref="BackupReader"/>): a backup is a file from anywhere.
/// The first byte picks the layer: even — the rest is a whole file, read with passphrase <see cref="Passphrase"/> and
/// a KDF floor of 1 iteration (the seeds use 1, so inputs reach the chunk and record code at fuzzing speed; Tinyo's
/// own reader refuses fewer than 100,000); odd — the rest is a decrypted stream, fed to the record parser directly
/// (a mutated ciphertext never passes its tag, so only this way does the fuzzer reach the records).
/// </summary>
internal static class BackupTarget
{
    public const string Passphrase = "fuzz-passphrase";

    private static readonly BackupLimits Cheap = new() { MinIterations = 1, MaxIterations = 16, MaxRecordBytes = 1 << 22 };

    public static void Run(byte[] input)
    {
        if (input.Length == 0) return;
        if (input[0] % 2 == 0) BackupReader.Read(new MemoryStream(input, 1, input.Length - 1), Passphrase, new VerifyingSink(), Cheap);
        else new RecordReader(new BytesSource(input.AsMemory(1)), new VerifyingSink(), Cheap).ReadAll();
    }

    /// <summary>Seeds: whole files (one chunk, many small chunks, a file record) and decrypted streams.</summary>
    public static IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var plain = Plain();
        yield return ("plain-records", [1, .. plain]);
        yield return ("plain-truncated", [1, .. plain.AsSpan(0, plain.Length / 2)]);
        yield return ("file-one-chunk", [0, .. File(64 * 1024)]);
        yield return ("file-small-chunks", [0, .. File(1024)]);
    }

    private static byte[] File(int chunkSize)
    {
        var ms = new MemoryStream();
        using (var w = BackupWriter.CreateAsync(ms, Passphrase, default, iterations: 1, chunkSize: chunkSize).GetAwaiter().GetResult())
        {
            w.WriteManifestAsync(Manifest(), default).GetAwaiter().GetResult();
            w.WriteAsync(BackupRecordType.KvSnapshot, "", new byte[3000], default).GetAwaiter().GetResult();
            w.WriteAsync(BackupRecordType.File, "node.key", new byte[32], default).GetAwaiter().GetResult();
            w.CompleteAsync(default).GetAwaiter().GetResult();
        }
        return ms.ToArray();
    }

    private static BackupManifest Manifest() => new(1, "0.1.0", DateTimeOffset.UnixEpoch, "n1", "demo", "admin", 7,
        [new BackupApp("web", "busybox:latest", 1)], ["db-pass"], ["admin"], [new BackupImage("busybox:latest", null)], ["node.key"], []);

    /// <summary>The decrypted stream of a small backup: manifest, KV snapshot, node key, end.</summary>
    private static byte[] Plain()
    {
        var ms = new MemoryStream();
        Record(ms, 1, "", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Manifest(), BackupJson.Default.BackupManifest));
        Record(ms, 2, "", new byte[100]);
        Record(ms, 3, "node.key", new byte[32]);
        Record(ms, 0, "", []);
        return ms.ToArray();
    }

    private static void Record(MemoryStream ms, byte type, string name, byte[] content)
    {
        var n = Encoding.UTF8.GetBytes(name);
        Span<byte> b = stackalloc byte[4];
        ms.WriteByte(type);
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)n.Length);
        ms.Write(b[..2]);
        ms.Write(n);
        if (content.Length > 0)
        {
            BinaryPrimitives.WriteInt32BigEndian(b, content.Length);
            ms.Write(b);
            ms.Write(content);
        }
        BinaryPrimitives.WriteInt32BigEndian(b, 0);
        ms.Write(b);
    }

    private sealed class BytesSource(ReadOnlyMemory<byte> data) : IPlainSource
    {
        private ReadOnlyMemory<byte> rest = data;

        public int Read(Span<byte> dest)
        {
            var n = Math.Min(dest.Length, rest.Length);
            rest.Span[..n].CopyTo(dest);
            rest = rest[n..];
            return n;
        }
    }
}
