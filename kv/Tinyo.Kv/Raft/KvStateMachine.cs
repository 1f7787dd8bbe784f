using System.Buffers;
using System.Globalization;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Tinyo.Kv.Mvcc;

namespace Tinyo.Kv.Raft;

/// <summary>
/// The DotNext state machine behind the WAL: applies committed entries to the <see cref="KeyValueStore"/> and
/// keeps snapshots on disk so the WAL can drop old chunks. A snapshot is taken every
/// <see cref="SnapshotEvery"/> entries from an immutable capture, written on a background thread while
/// applies go on (unlike <see cref="SimpleStateMachine"/>, which stalls the next apply until it is written).
/// Snapshot files are named <c>{index}-{term}.snap</c>; see <see cref="StoreSnapshot.WriteTo"/> for the format.
/// </summary>
public sealed class KvStateMachine : IStateMachine, IAsyncDisposable
{
    private const string Suffix = ".snap";
    private readonly DirectoryInfo dir;
    private volatile SnapshotFile? snapshot;
    private Task snapshotting = Task.CompletedTask;
    private long sinceSnapshot;
    private long lastTerm;
    private long installed;

    /// <summary>Creates the state machine keeping snapshots under <paramref name="directory"/>.</summary>
    public KvStateMachine(string directory, long snapshotEvery = 50_000)
    {
        dir = Directory.CreateDirectory(directory);
        SnapshotEvery = snapshotEvery;
        foreach (var tmp in dir.EnumerateFiles("*.tmp")) tmp.Delete(); // leftovers of a crash mid-write
    }

    /// <summary>The store the entries are applied to.</summary>
    public KeyValueStore Store { get; } = new();

    /// <summary>Entries applied between two snapshots.</summary>
    public long SnapshotEvery { get; }

    /// <summary>Snapshots received from the leader (InstallSnapshot) since start.</summary>
    public long SnapshotsInstalled => Interlocked.Read(ref installed);

    /// <summary>The index of the newest durable snapshot, 0 if none.</summary>
    public long SnapshotIndex => snapshot?.Index ?? 0;

    /// <summary>Loads the newest snapshot on disk into the store; call before the WAL is created.</summary>
    public void Restore()
    {
        foreach (var file in dir.EnumerateFiles("*" + Suffix).OrderByDescending(ParseIndex))
        {
            var candidate = SnapshotFile.Parse(file);
            using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Store.Restore(stream);
            snapshot = candidate;
            lastTerm = candidate.Term;
            return;
        }
    }

    private static long ParseIndex(FileInfo f) => SnapshotFile.Parse(f).Index;

    /// <summary>
    /// Seeds an empty data directory with a saved snapshot (from <c>tinyokv snapshot save</c>) for a new group:
    /// the file is verified whole, then installed as the snapshot at its applied index with term 0, so a member
    /// started on the directory with --bootstrap continues from it. Returns the restored view.
    /// </summary>
    public static StoreView RestoreInto(string snapshotFile, string dataDir)
    {
        if (!File.Exists(snapshotFile)) throw new KvException($"snapshot file {snapshotFile} does not exist");
        if (Directory.Exists(dataDir) && Directory.EnumerateFileSystemEntries(dataDir).Any())
            throw new KvException($"data directory {dataDir} is not empty: restore needs a new one");
        var check = new KeyValueStore();
        using (var fs = new FileStream(snapshotFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            check.Restore(fs);
        var view = check.Current;
        if (view.AppliedIndex <= 0) throw new KvException("snapshot: it records no log index; was it written by tinyokv?");
        var dir = Directory.CreateDirectory(Path.Combine(dataDir, "snapshots"));
        var final = Path.Combine(dir.FullName, string.Create(CultureInfo.InvariantCulture, $"{view.AppliedIndex}-0{Suffix}"));
        File.Copy(snapshotFile, final + ".tmp");
        using (var fs = new FileStream(final + ".tmp", FileMode.Open, FileAccess.ReadWrite))
            fs.Flush(flushToDisk: true);
        File.Move(final + ".tmp", final);
        DirectorySync.Fsync(dir.FullName);
        return view;
    }

    ISnapshot? ISnapshotManager.Snapshot => snapshot;

    ValueTask ISnapshotManager.ReclaimGarbageAsync(long watermark, CancellationToken token)
    {
        foreach (var file in dir.EnumerateFiles("*" + Suffix))
        {
            if (SnapshotFile.Parse(file).Index < watermark) file.Delete();
        }
        return ValueTask.CompletedTask;
    }

    async ValueTask<long> IStateMachine.ApplyAsync(LogEntry entry, CancellationToken token)
    {
        if (entry.IsSnapshot)
            return await InstallAsync(entry, token).ConfigureAwait(false);
        if (entry.Index <= Store.Current.AppliedIndex)
            return Store.Current.AppliedIndex; // already in the restored snapshot

        lastTerm = entry.Term;
        var commands = 1;
        if (entry.TryGetPayload(out var payload) && !payload.IsEmpty && !entry.IsConfiguration)
        {
            if (payload.IsSingleSegment)
            {
                commands = Apply(payload.FirstSpan, entry.Index, entry.Context);
            }
            else
            {
                var copy = ArrayPool<byte>.Shared.Rent((int)payload.Length);
                payload.CopyTo(copy);
                commands = Apply(copy.AsSpan(0, (int)payload.Length), entry.Index, entry.Context);
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
        else
        {
            Store.Skip(entry.Index);
        }

        // Counted in commands, not entries: a batch of 100 writes grows the WAL like 100 entries did before batching,
        // and the WAL's chunks (mapped, so in RSS too) are dropped only behind a snapshot.
        sinceSnapshot += commands;
        if (sinceSnapshot >= SnapshotEvery && snapshotting.IsCompleted)
        {
            sinceSnapshot = 0;
            var capture = Store.Capture();
            var term = entry.Term;
            snapshotting = Task.Run(() => Write(capture, term), CancellationToken.None);
        }
        return entry.Index;
    }

    /// <summary>Applies one entry's payload: a command, or each command of a batch in order. Returns the count.</summary>
    private int Apply(ReadOnlySpan<byte> payload, long index, object? context)
    {
        var replies = Store.ApplyEntry(payload, index);
        if (context is Proposal single)
        {
            single.Complete(replies[0], index);
        }
        else if (context is BatchProposal { Proposals: var proposals })
        {
            for (var i = 0; i < replies.Length && i < proposals.Length; i++) proposals[i].Complete(replies[i], index);
        }
        return Math.Max(1, replies.Length);
    }

    private void Write(StoreSnapshot capture, long term)
    {
        var final = Path.Combine(dir.FullName, string.Create(CultureInfo.InvariantCulture, $"{capture.AppliedIndex}-{term}{Suffix}"));
        var tmp = final + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                capture.WriteTo(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, final, overwrite: true);
            DirectorySync.Fsync(dir.FullName);
            snapshot = SnapshotFile.Parse(new FileInfo(final));
        }
        catch (Exception e)
        {
            // A failed snapshot is not fatal: the WAL keeps its entries and the next one retries.
            Console.Error.WriteLine($"tinyokv: snapshot at index {capture.AppliedIndex} failed: {e.Message}");
            File.Delete(tmp);
        }
    }

    private async ValueTask<long> InstallAsync(LogEntry entry, CancellationToken token)
    {
        await snapshotting.ConfigureAwait(false);
        var final = Path.Combine(dir.FullName, string.Create(CultureInfo.InvariantCulture, $"{entry.Index}-{entry.Term}{Suffix}"));
        var tmp = final + ".tmp";
        var fs = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (fs.ConfigureAwait(false))
        {
            var buffer = new byte[1 << 16];
            await entry.WriteToAsync(IAsyncBinaryWriter.Create(fs, buffer), token).ConfigureAwait(false);
            await fs.FlushAsync(token).ConfigureAwait(false);
            fs.Flush(flushToDisk: true);
            fs.Position = 0;
            Store.Restore(fs); // throws on a corrupt transfer, leaving the store as it was
        }
        File.Move(tmp, final, overwrite: true);
        DirectorySync.Fsync(dir.FullName);
        snapshot = SnapshotFile.Parse(new FileInfo(final));
        lastTerm = entry.Term;
        sinceSnapshot = 0;
        Interlocked.Increment(ref installed);
        return entry.Index;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await snapshotting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    /// <summary>A snapshot file as the WAL sees it: a log entry that streams the file.</summary>
    private sealed class SnapshotFile(FileInfo file, long index, long term) : ISnapshot
    {
        public long Index { get; } = index;

        public long Term { get; } = term;

        long? IDataTransferObject.Length => file.Length;

        bool IDataTransferObject.IsReusable => true;

        public static SnapshotFile Parse(FileInfo file)
        {
            var name = Path.GetFileNameWithoutExtension(file.Name);
            var dash = name.IndexOf('-');
            if (dash <= 0
                || !long.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || !long.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var term))
                throw new KvException($"snapshot: unexpected file name {file.Name}");
            return new(file, index, term);
        }

        async ValueTask IDataTransferObject.WriteToAsync<TWriter>(TWriter writer, CancellationToken token)
        {
            var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (stream.ConfigureAwait(false))
                await writer.CopyFromAsync(stream, token: token).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// The context attached to a log entry by the member that proposed it: the applier hands the state machine's
/// answer to the waiting request.
/// </summary>
public sealed class Proposal
{
    private readonly TaskCompletionSource<(byte[], long)> done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The answer and the entry's log index, once applied.</summary>
    public Task<(byte[] Reply, long Index)> Reply => done.Task;

    internal void Complete(byte[] reply, long index) => done.TrySetResult((reply, index));

    internal void Fail(Exception e) => done.TrySetException(e);
}
