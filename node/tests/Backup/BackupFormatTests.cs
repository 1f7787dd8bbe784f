using System.Buffers.Binary;
using System.Security.Cryptography;
using Tinyo.Node.Backup;

namespace Tinyo.Node.Tests.Backup;

/// <summary>
/// The backup file format (node/Tinyo.Node/Backup): round trip, wrong passphrase, truncation at many offsets, a
/// changed byte in every part of the file, another version, records the reader must refuse, and a refused file
/// staging nothing. One PBKDF2 iteration here (the floor lowered for speed); the default floor is tested too.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class BackupFormatTests
{
    private const string Pass = "a long passphrase";
    private static readonly BackupLimits Fast = new() { MinIterations = 1 };
    private static readonly byte[] Snapshot = RandomNumberGenerator.GetBytes(300_000);
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    private static BackupManifest Manifest() => new(1, "0.1.0", DateTimeOffset.UtcNow, "n1", "demo", "admin", 42,
        [new BackupApp("web", "busybox:latest", 2)], ["db-pass"], ["admin"], [new BackupImage("busybox:latest", "sha256:" + new string('a', 64))], ["node.key"], []);

    private static byte[] Make(int chunkSize = 4096, Action<BackupWriter>? extra = null)
    {
        var ms = new MemoryStream();
        using (var w = BackupWriter.CreateAsync(ms, Pass, default, iterations: 1, chunkSize: chunkSize).GetAwaiter().GetResult())
        {
            w.WriteManifestAsync(Manifest(), default).GetAwaiter().GetResult();
            w.WriteAsync(BackupRecordType.KvSnapshot, "", new MemoryStream(Snapshot), default).GetAwaiter().GetResult();
            w.WriteAsync(BackupRecordType.File, "node.key", Key, default).GetAwaiter().GetResult();
            extra?.Invoke(w);
            w.CompleteAsync(default).GetAwaiter().GetResult();
        }
        return ms.ToArray();
    }

    private sealed class Capture : IBackupSink
    {
        public BackupManifest? Seen;
        public readonly Dictionary<string, MemoryStream> Records = [];

        public void Manifest(BackupManifest manifest) => Seen = manifest;

        public Stream Open(BackupRecordType type, string name)
        {
            var ms = new MemoryStream();
            Records[type == BackupRecordType.KvSnapshot ? "kv" : name] = ms;
            return new NonClosing(ms);
        }

        private sealed class NonClosing(Stream inner) : Stream
        {
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => inner.Length;
            public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        }
    }

    private static string Refused(byte[] file, string pass = Pass, BackupLimits? limits = null)
        => Assert.Throws<BackupException>(() => BackupReader.Read(new MemoryStream(file), pass, new VerifyingSink(), limits ?? Fast)).Message;

    [Fact]
    public void RoundTripKeepsEveryRecordExactly()
    {
        foreach (var chunk in new[] { 1024, 4096, 64 * 1024 })
        {
            var file = Make(chunk);
            var sink = new Capture();
            var m = BackupReader.Read(new MemoryStream(file), Pass, sink, Fast);
            Assert.Equal("demo", m.Net);
            Assert.Equal("web", Assert.Single(m.Apps).Name);
            Assert.Equal(m, sink.Seen);
            Assert.Equal(Snapshot, sink.Records["kv"].ToArray());
            Assert.Equal(Key, sink.Records["node.key"].ToArray());
            // Encrypted: neither the snapshot's nor the key's bytes appear in the file.
            Assert.Equal(-1, file.AsSpan().IndexOf(Key));
            Assert.Equal(-1, file.AsSpan().IndexOf(Snapshot.AsSpan(1000, 64)));
        }
    }

    [Fact]
    public void TwoBackupsOfTheSameStateDiffer()
    {
        // A fresh salt per file: a new key, so equal plaintexts never give equal ciphertexts.
        Assert.NotEqual(Make().AsSpan(16, 16).ToArray(), Make().AsSpan(16, 16).ToArray());
    }

    [Fact]
    public void WrongPassphraseIsNamed()
    {
        Assert.Contains("wrong passphrase", Refused(Make(), "another passphrase"));
    }

    [Fact]
    public void TruncationAtEveryKindOfOffsetIsRefused()
    {
        var file = Make(1024);
        int header = BackupHeader.Size, frame = 4 + 1024 + 16;
        int[] cuts = [0, 3, 9, 30, header, header + 2, header + 4, header + 500, header + frame, header + 3 * frame + 7, file.Length - frame, file.Length - 17, file.Length - 1];
        foreach (var cut in cuts)
        {
            var msg = Refused(file[..cut]);
            Assert.True(cut == 0 ? msg.Contains("empty") : msg.StartsWith("truncated", StringComparison.Ordinal), $"cut at {cut}: {msg}");
        }
        // Cut exactly at a chunk boundary: every chunk before it authenticates, the final flag is what is missing.
        Assert.Contains("without its final chunk", Refused(file[..(header + 2 * frame)]));
    }

    [Fact]
    public void AChangedByteAnywhereIsRefused()
    {
        var file = Make(1024);
        var rng = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var at = i < 52 ? i : rng.Next(52, file.Length);
            var bad = (byte[])file.Clone();
            bad[at] ^= (byte)(1 << rng.Next(8));
            Assert.NotNull(Refused(bad));
        }
        // By region: a ciphertext byte names its chunk; a changed salt reads as a wrong passphrase.
        var c = (byte[])file.Clone();
        c[BackupHeader.Size + 2 * (4 + 1024 + 16) + 100] ^= 1;
        Assert.Contains("chunk 2 ", Refused(c));
        Assert.Contains("fails authentication", Refused(c));
        var s = (byte[])file.Clone();
        s[20] ^= 1;
        Assert.Contains("wrong passphrase", Refused(s));
        var sz = (byte[])file.Clone();
        BinaryPrimitives.WriteInt32BigEndian(sz.AsSpan(32), 2048);
        Assert.NotNull(Refused(sz));
    }

    [Fact]
    public void ReorderedDroppedOrAppendedChunksAreRefused()
    {
        var file = Make(1024);
        int h = BackupHeader.Size, f = 4 + 1024 + 16;
        var swapped = (byte[])file.Clone();
        file.AsSpan(h, f).CopyTo(swapped.AsSpan(h + f));
        file.AsSpan(h + f, f).CopyTo(swapped.AsSpan(h));
        Assert.Contains("chunk 0 ", Refused(swapped));
        byte[] dropped = [.. file.AsSpan(0, h), .. file.AsSpan(h + f)];
        Assert.Contains("fails authentication", Refused(dropped));
        Assert.Contains("appended", Refused([.. file, 0]));
        // The last chunk's final flag cleared: its nonce changes, its tag fails.
        var last = (byte[])file.Clone();
        var lastAt = FindLastChunk(file, 1024);
        last[lastAt] &= 0x7F;
        Assert.NotNull(Refused(last));
    }

    private static int FindLastChunk(byte[] file, int chunk)
    {
        var at = BackupHeader.Size;
        while (true)
        {
            var word = BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(at));
            if ((word & 0x8000_0000u) != 0) return at;
            at += 4 + chunk + 16;
        }
    }

    [Fact]
    public void OtherVersionsAndAlgorithmsAreNamed()
    {
        var file = Make();
        var v2 = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(v2.AsSpan(8), 2);
        Assert.Equal("unsupported backup format version 2: this Tinyo reads version 1", Refused(v2));
        var kdf = (byte[])file.Clone();
        kdf[10] = 9;
        Assert.Contains("unknown key derivation 9", Refused(kdf));
        var aead = (byte[])file.Clone();
        aead[11] = 2;
        Assert.Contains("unknown cipher 2", Refused(aead));
        Assert.Contains("not a Tinyo backup", Refused("PK\x03\x04 a zip file, not a backup at all........................................"u8.ToArray()));
    }

    [Fact]
    public void DefaultLimitsRefuseAWeakKdfAndAnEndlessOne()
    {
        // One iteration is what these tests use; a real reader demands at least 100,000, and at most 10,000,000.
        Assert.Contains("PBKDF2 iterations", Refused(Make(), limits: BackupLimits.Default));
        var slow = Make();
        BinaryPrimitives.WriteInt32BigEndian(slow.AsSpan(12), int.MaxValue);
        Assert.Contains("PBKDF2 iterations", Refused(slow, limits: BackupLimits.Default));
    }

    [Fact]
    public void RecordsOutsideTheRulesAreMalformed()
    {
        var escape = Make(extra: w => w.WriteAsync(BackupRecordType.File, "../../etc/passwd", new byte[1], default).GetAwaiter().GetResult());
        Assert.Contains("may not hold", Refused(escape));
        var twice = Make(extra: w => w.WriteAsync(BackupRecordType.File, "node.key", new byte[1], default).GetAwaiter().GetResult());
        Assert.Contains("repeats the file node.key", Refused(twice));
        var kv2 = Make(extra: w => w.WriteAsync(BackupRecordType.KvSnapshot, "", new byte[1], default).GetAwaiter().GetResult());
        Assert.Contains("second KV snapshot", Refused(kv2));
    }

    [Fact]
    public void ARefusedFileStagesNothing()
    {
        var dir = Directory.CreateTempSubdirectory("tinyo-backup-test-").FullName;
        try
        {
            var good = Make(1024);
            var path = Path.Combine(dir, "b.tinyo");
            // Changed in its very last chunk: every record before it was readable, yet nothing may be written.
            var bad = (byte[])good.Clone();
            bad[^5] ^= 1;
            File.WriteAllBytes(path, bad);
            var stage = Path.Combine(dir, "root", "restore.staging");
            Assert.Throws<BackupException>(() => NodeRestore.Stage(path, Pass, stage, Fast));
            Assert.False(Directory.Exists(Path.Combine(dir, "root")));
            Assert.Throws<BackupException>(() => NodeRestore.Stage(path, "wrong passphrase!", stage, Fast));
            Assert.False(Directory.Exists(Path.Combine(dir, "root")));

            File.WriteAllBytes(path, good);
            var m = NodeRestore.Stage(path, Pass, stage, Fast);
            Assert.Equal("demo", m.Net);
            Assert.Equal(Snapshot, File.ReadAllBytes(Path.Combine(stage, "kv.snap")));
            Assert.Equal(Key, File.ReadAllBytes(Path.Combine(stage, "files", "node.key")));
            Assert.True(File.Exists(Path.Combine(stage, "manifest.json")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(stage, "files", "node.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(stage));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
