using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>Real tinyokv processes on loopback: elections, failures, large values, hostile frames, crashes.</summary>
[Collection("cluster")]
public class ClusterTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(byte[] b) => Encoding.UTF8.GetString(b);

    [Fact]
    public async Task ThreeMembersElectALeaderAndServeFromAnyMember()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var leader = await cluster.LeaderAsync();
        var follower = cluster.Members.First(m => m != leader);
        // A write sent to a follower is redirected to the leader.
        var viaFollower = cluster.Client(follower);
        var put = await viaFollower.PutAsync(B("greeting"), B("hello"));
        Assert.True(put.Revision > 0);
        // Linearizable reads from every member see it at once.
        foreach (var m in cluster.Members)
        {
            var kv = await cluster.Client(m).GetAsync(B("greeting"));
            Assert.Equal("hello", S(kv!.Value));
        }
        var members = await viaFollower.MemberListAsync();
        Assert.Equal(3, members.Count);
        Assert.Single(members, x => x.IsLeader);
    }

    [Fact]
    public async Task LeaderKillElectsANewLeaderAndTheOldOneCatchesUpOnRestart()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client();
        for (var i = 0; i < 20; i++) await client.PutAsync(B($"before/{i}"), B($"{i}"));
        var leader = await cluster.LeaderAsync();
        leader.Kill();

        var survivors = cluster.Client(cluster.Members.Where(m => m != leader).ToArray());
        for (var i = 0; i < 20; i++) await survivors.PutAsync(B($"after/{i}"), B($"{i}"));
        var newLeader = await cluster.LeaderAsync();
        Assert.NotSame(leader, newLeader);
        Assert.Equal(20, (await survivors.RangeAsync(new RangeRequest(B("before/"), RangeRequest.PrefixEnd(B("before/"))))).Count);

        // The old leader restarts from its WAL and catches up with what it missed.
        leader.Start(TestCluster.Token);
        var restarted = cluster.Client(leader);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        RangeResponse local;
        do
        {
            await Task.Delay(100);
            local = await restarted.RangeAsync(new RangeRequest(B("after/"), RangeRequest.PrefixEnd(B("after/")), Serializable: true));
        } while (local.Count < 20 && DateTime.UtcNow < deadline);
        Assert.Equal(20, local.Count);
    }

    [Fact]
    public async Task SixtyFourMiBValueIsStoredAndReplicated()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var value = RandomNumberGenerator.GetBytes(64 << 20);
        var client = cluster.Client();
        await client.PutAsync(B("big"), value);
        var follower = cluster.Members.First(m => m != cluster.Members[0]);
        var got = await cluster.Client(follower).GetAsync(B("big"));
        Assert.Equal(value.Length, got!.Value.Length);
        Assert.True(SHA256.HashData(value).AsSpan().SequenceEqual(SHA256.HashData(got.Value)));
    }

    [Fact]
    public async Task BadFramesOversizedAndUnauthenticatedRequestsAreRefusedCleanly()
    {
        await using var cluster = await TestCluster.StartAsync(1, "--max-request-bytes", "1048576");
        var address = Endpoints.Parse(cluster.Members[0].ClientAddress);

        // No Hello first: refused, connection closed.
        var (code, _) = await RawAsync(address, Frame(Op.Put, []));
        Assert.Equal(ErrorCode.Unauthenticated, code);

        // Wrong token.
        (code, _) = await RawAsync(address, Hello("wrong"));
        Assert.Equal(ErrorCode.Unauthenticated, code);

        // Authenticated, then a body that does not decode: a clear BadRequest, the connection stays usable.
        var conn = await KvConnection.OpenAsync(address, TestCluster.Token, 1, TimeSpan.FromSeconds(2));
        var reply = await conn.SendAsync(Op.Put, new byte[] { 1, 0, 0xFF, 0xFF });
        Assert.Equal((byte)ErrorCode.BadRequest, reply[0]);
        reply = await conn.SendAsync((Op)200, Array.Empty<byte>());
        Assert.Equal((byte)ErrorCode.BadRequest, reply[0]);
        await conn.DisposeAsync();

        // A frame header announcing more than the limit: TooLarge, then the server closes the connection.
        var huge = new byte[9];
        BinaryPrimitives.WriteUInt32BigEndian(huge, 200u << 20);
        huge[4] = (byte)Op.Put;
        (code, _) = await RawAsync(address, [.. Hello(TestCluster.Token), .. huge]);
        Assert.Equal(ErrorCode.TooLarge, code);

        // A length shorter than the header: BadRequest.
        (code, _) = await RawAsync(address, [.. Hello(TestCluster.Token), 0, 0, 0, 1, 0]);
        Assert.Equal(ErrorCode.BadRequest, code);

        // The client library reports an oversized value as one clear error, and the member still serves.
        var client = cluster.Client();
        var e = await Assert.ThrowsAsync<KvServerException>(() => client.PutAsync(B("k"), new byte[2 << 20]));
        Assert.Equal(ErrorCode.TooLarge, e.Code);
        var client2 = cluster.Client();
        await client2.PutAsync(B("still"), B("alive"));
        Assert.Equal("alive", S((await client2.GetAsync(B("still")))!.Value));
    }

    [Fact]
    public async Task CompareAndSwapCounterWithManyClientsLosesNoIncrement()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var setup = cluster.Client();
        await setup.PutAsync(B("counter"), B("0"));
        const int clients = 8, increments = 15;
        var successes = 0;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var client = cluster.Client(cluster.Members[c % cluster.Members.Count]);
            for (var done = 0; done < increments;)
            {
                var kv = (await client.GetAsync(B("counter")))!;
                var next = (long.Parse(S(kv.Value)) + 1).ToString();
                var txn = new TxnRequest(
                    [new Compare(B("counter"), CompareTarget.Mod, CompareResult.Equal, kv.ModRevision)],
                    [new TxnOp(Put: new PutRequest(B("counter"), B(next)))], []);
                if ((await client.TxnAsync(txn)).Succeeded)
                {
                    done++;
                    Interlocked.Increment(ref successes);
                }
            }
        }));
        Assert.Equal(clients * increments, successes);
        Assert.Equal((clients * increments).ToString(), S((await setup.GetAsync(B("counter")))!.Value));
    }

    [Fact]
    public async Task KillingAllMembersAtOnceLosesNoAcknowledgedWrite()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var acked = new ConcurrentDictionary<string, string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var client = cluster.Client();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"w{w}/{i}";
                try
                {
                    await client.PutAsync(B(key), B($"v{i}"), ct: stop.Token);
                    acked[key] = $"v{i}";
                }
                catch (Exception)
                {
                    return; // the cluster is gone: this write was not acknowledged
                }
            }
        })).ToList();
        await Task.Delay(1500);
        foreach (var m in cluster.Members) m.Kill(); // SIGKILL, all at once
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(acked.Count > 10, $"only {acked.Count} writes acknowledged before the crash");

        foreach (var m in cluster.Members) m.Start(TestCluster.Token);
        await cluster.WaitForMembersAsync(3);
        var reader = cluster.Client();
        var all = await reader.RangeAsync(new RangeRequest(B("w"), RangeRequest.PrefixEnd(B("w"))));
        var stored = all.Kvs.ToDictionary(kv => S(kv.Key), kv => S(kv.Value));
        var lost = acked.Where(p => !stored.TryGetValue(p.Key, out var v) || v != p.Value).Select(p => p.Key).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {acked.Count} acknowledged writes lost, e.g. {string.Join(",", lost.Take(5))}");
        // Each key was put once by one client: a retry applied twice would show as version 2.
        var twice = all.Kvs.Where(kv => kv.Version != 1).Select(kv => S(kv.Key)).ToList();
        Assert.True(twice.Count == 0, $"writes applied more than once: {string.Join(",", twice.Take(5))}");
    }

    [Fact]
    public async Task FarBehindMemberCatchesUpBySnapshot()
    {
        // Small WAL chunks and 2 KiB values: the leader's WAL drops the chunks behind its snapshots, so the member
        // that was down can only catch up by receiving a snapshot.
        string[] flags = ["--snapshot-every", "50", "--wal-chunk-size", "4096"];
        await using var cluster = await TestCluster.StartAsync(3, flags);
        var leader = await cluster.LeaderAsync();
        var lagging = cluster.Members.First(m => m != leader);
        lagging.Kill();
        var client = cluster.Client(cluster.Members.Where(m => m != lagging).ToArray());
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async t =>
        {
            for (var i = 0; i < 40; i++) await client.PutAsync(B($"snap/{t}/{i}"), new byte[2048]);
        }));
        lagging.Start(TestCluster.Token, flags);
        var restarted = cluster.Client(lagging);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long count;
        do
        {
            await Task.Delay(200);
            count = (await restarted.RangeAsync(new RangeRequest(B("snap/"), RangeRequest.PrefixEnd(B("snap/")), CountOnly: true, Serializable: true))).Count;
        } while (count < 320 && DateTime.UtcNow < deadline);
        Assert.Equal(320, count);
        var status = await restarted.StatusAsync();
        Assert.True(status.SnapshotsInstalled > 0, "the lagging member should have caught up through InstallSnapshot");
    }

    [Fact]
    public async Task CliPutGetJsonTxnAndErrorsAreOneLine()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        string[] common = ["--endpoints", cluster.Members[0].ClientAddress, "--token", TestCluster.Token];
        var (code, stdout, _) = await Binary.RunAsync(["put", "cli/a", "1", .. common]);
        Assert.Equal((0, "OK"), (code, stdout.Trim()));
        (code, stdout, _) = await Binary.RunAsync(["get", "cli/", "--prefix", "-o", "json", .. common]);
        Assert.Equal(0, code);
        Assert.Contains("\"key\":\"cli/a\"", stdout);
        Assert.Contains("\"version\":1", stdout);
        (code, stdout, _) = await Binary.RunAsync(["txn", .. common], "version(\"cli/a\") = \"1\"\n\nput cli/a 2\n\nget cli/a\n");
        Assert.Equal(0, code);
        Assert.StartsWith("SUCCESS", stdout);
        (code, _, var stderr) = await Binary.RunAsync(["get", "x", "--endpoints", cluster.Members[0].ClientAddress, "--token", "nope"]);
        Assert.Equal(1, code);
        Assert.Equal("tinyokv: unauthenticated: wrong cluster token", stderr.Trim());
        (code, _, stderr) = await Binary.RunAsync(["get", "x", "--endpoints", "not-an-address", .. common[2..]]);
        Assert.Equal(1, code);
        Assert.StartsWith("tinyokv: bad address 'not-an-address'", stderr.Trim());

        // A second member on a port already taken fails with one line instead of sharing the port.
        var busy = Path.Combine(Path.GetTempPath(), $"tinyokv-busy-{Guid.NewGuid():N}");
        try
        {
            (code, _, stderr) = await Binary.RunAsync(["serve", "--data-dir", busy, "--token", "t", "--bootstrap",
                "--listen-peer", $"127.0.0.1:{TestCluster.FreePort()}", "--listen-client", cluster.Members[0].ClientAddress]);
            Assert.Equal(1, code);
            Assert.Contains("Address already in use", stderr);
            Assert.DoesNotContain("   at ", stderr);
        }
        finally
        {
            if (Directory.Exists(busy)) Directory.Delete(busy, true);
        }
        (code, _, stderr) = await Binary.RunAsync(["serve", "--data-dir", "/proc/tinyokv-nope", "--token", "t"]);
        Assert.Equal((1, "tinyokv: cannot create data directory /proc/tinyokv-nope"), (code, stderr.Trim()));
    }

    private static byte[] Frame(Op op, byte[] body)
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        Protocol.Frame.Write(buf, op, 7, body);
        return buf.WrittenSpan.ToArray();
    }

    private static byte[] Hello(string token)
    {
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        var w = new WireWriter(body);
        w.String(token);
        w.U64(42);
        return Frame(Op.Hello, body.WrittenSpan.ToArray());
    }

    /// <summary>Sends raw bytes and returns the last error code received before the server closed the connection.</summary>
    private static async Task<(ErrorCode, string)> RawAsync(System.Net.IPEndPoint address, byte[] bytes)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(address);
        await s.SendAsync(bytes);
        using var ms = new MemoryStream();
        var buf = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var n = await s.ReceiveAsync(buf, cts.Token); // throws if the server never closes: the test fails
            if (n == 0) break;
            ms.Write(buf, 0, n);
        }
        var data = ms.ToArray();
        var (code, message) = ((ErrorCode)0, "");
        for (var at = 0; at + 9 <= data.Length;)
        {
            var len = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(at));
            var body = data.AsSpan(at + 9, len - 5);
            if (body[0] != 0)
            {
                code = (ErrorCode)body[0];
                message = new WireReader(body[1..]).String();
            }
            at += 4 + len;
        }
        return (code, message);
    }
}

/// <summary>Watches on real processes.</summary>
[Collection("cluster")]
public class WatchClusterTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task WatchResumesAcrossLeaderChangeWithoutLosingOrRepeatingEvents()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var leader = await cluster.LeaderAsync();
        // The watcher is connected to the leader first, so killing it forces a resume elsewhere.
        var watcherClient = cluster.Client([leader, .. cluster.Members.Where(m => m != leader)]);
        var seen = new List<(long Rev, string Key)>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var prefix = B("w/");
        var gotAll = new TaskCompletionSource();
        var watch = Task.Run(async () =>
        {
            await foreach (var frame in watcherClient.WatchAsync(prefix, RangeRequest.PrefixEnd(prefix), startRevision: 1, ct: cts.Token))
            {
                lock (seen)
                {
                    foreach (var e in frame.Events) seen.Add((frame.Revision, Encoding.UTF8.GetString(e.Kv.Key)));
                    if (seen.Count >= 40) gotAll.TrySetResult();
                }
            }
        });
        var writer = cluster.Client();
        for (var i = 0; i < 20; i++) await writer.PutAsync(B($"w/{i:D2}"), B("x"));
        leader.Kill();
        var survivors = cluster.Client(cluster.Members.Where(m => m != leader).ToArray());
        for (var i = 20; i < 40; i++) await survivors.PutAsync(B($"w/{i:D2}"), B("x"));
        await gotAll.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cts.CancelAsync();
        try { await watch; } catch (OperationCanceledException) { }
        lock (seen)
        {
            Assert.True(Enumerable.Range(0, 40).Select(i => $"w/{i:D2}").SequenceEqual(seen.Select(s => s.Key)),
                string.Join(" ", seen.Select(s => $"{s.Rev}:{s.Key}")));
            Assert.Equal(seen.Select(s => s.Rev).Distinct().Count(), seen.Count); // each revision once
        }
    }
}

/// <summary>Leases on real processes.</summary>
[Collection("cluster")]
public class LeaseClusterTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task ExpiredLeaseDeletesItsKeysWhileAKeptAliveLeaseSurvives()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var client = cluster.Client();
        var (expiring, _) = await client.LeaseGrantAsync(2);
        var (kept, _) = await client.LeaseGrantAsync(2);
        await client.PutAsync(B("l/expiring"), B("x"), expiring);
        await client.PutAsync(B("l/kept"), B("y"), kept);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && await client.GetAsync(B("l/expiring")) is not null)
        {
            await client.LeaseKeepAliveAsync(kept);
            await Task.Delay(300);
        }
        Assert.Null(await client.GetAsync(B("l/expiring")));
        Assert.NotNull(await client.GetAsync(B("l/kept")));
        var leases = await client.LeaseListAsync();
        Assert.Equal([kept], leases.Select(l => l.Id));
        var e = await Assert.ThrowsAsync<KvServerException>(() => client.PutAsync(B("l/late"), B("z"), expiring));
        Assert.Equal(ErrorCode.LeaseNotFound, e.Code);
    }
}

/// <summary>The Raft port admits only peers that present the cluster token.</summary>
[Collection("cluster")]
public class PeerAuthTests
{
    [Fact]
    public async Task PeerPortRefusesAWrongTokenAndGarbageBeforeAnyRaftMessage()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var peer = Endpoints.Parse(cluster.Members[0].PeerAddress);

        static byte[] Hello(string token)
        {
            var t = Encoding.UTF8.GetBytes(token);
            return [.. "TKVPEER1"u8.ToArray(), (byte)(t.Length >> 8), (byte)t.Length, .. t];
        }

        async Task<byte[]> Exchange(byte[] send)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(peer);
            await s.SendAsync(send);
            var buf = new byte[16];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                var n = await s.ReceiveAsync(buf, cts.Token);
                return buf[..n];
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                return []; // closed with our bytes unread: refused as well
            }
        }

        Assert.Empty(await Exchange(Hello("wrong-token")));                 // closed, no acknowledgement
        Assert.Empty(await Exchange(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n")));
        Assert.Equal([1], await Exchange(Hello(TestCluster.Token)));        // the real token is acknowledged
        // The member still serves after the rejected attempts.
        var client = cluster.Client();
        await client.PutAsync(Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("v"));
    }
}

/// <summary>Membership changes at runtime, one at a time.</summary>
[Collection("cluster")]
public class MembershipTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task MembershipChangesUnderWriteLoadLoseNoAcknowledgedWrite()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            var client = cluster.Client(cluster.Members[0], cluster.Members[1]);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await client.PutAsync(B($"load/{w}/{i}"), B("v"));
                acked.Add($"load/{w}/{i}");
            }
        })).ToList();
        await Task.Delay(500);
        var admin = cluster.Client(cluster.Members[0], cluster.Members[1]);
        var leaving = cluster.Members[2];
        await admin.MemberRemoveAsync(leaving.PeerAddress);
        leaving.Kill();
        var fresh = cluster.NewMember();
        fresh.Start(TestCluster.Token, "--join", cluster.Members[0].ClientAddress);
        await cluster.WaitForMembersAsync(3);
        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(writers); // a writer failing here fails the test: no write may fail during the changes
        var all = await admin.RangeAsync(new RangeRequest(B("load/"), RangeRequest.PrefixEnd(B("load/"))));
        var stored = all.Kvs.Select(kv => Encoding.UTF8.GetString(kv.Key)).ToHashSet();
        Assert.All(acked, k => Assert.Contains(k, stored));
        // The new member caught up with everything.
        var onFresh = cluster.Client(fresh);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        long count;
        do
        {
            await Task.Delay(100);
            count = (await onFresh.RangeAsync(new RangeRequest(B("load/"), RangeRequest.PrefixEnd(B("load/")), CountOnly: true, Serializable: true))).Count;
        } while (count < all.Count && DateTime.UtcNow < deadline);
        Assert.Equal(all.Count, count);
    }

    [Fact]
    public async Task RemoveAMemberThenAddAStandbyThatCatchesUpButNeverLeads()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client(cluster.Members[0]);
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"m/{i}"), B("v"));

        // Graceful leave: remove the member from the group, then stop it.
        var leaving = cluster.Members[2];
        await client.MemberRemoveAsync(leaving.PeerAddress);
        leaving.Kill();
        await cluster.WaitForMembersAsync(2);
        await client.PutAsync(B("m/after-remove"), B("v"));

        // A fresh standby member joins, receives the data, and is listed; it never becomes the leader.
        var standby = cluster.NewMember();
        standby.Start(TestCluster.Token, "--standby", "--join", cluster.Members[0].ClientAddress);
        await cluster.WaitForMembersAsync(3);
        var onStandby = cluster.Client(standby);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        long count;
        do
        {
            await Task.Delay(100);
            count = (await onStandby.RangeAsync(new RangeRequest(B("m/"), RangeRequest.PrefixEnd(B("m/")), CountOnly: true, Serializable: true))).Count;
        } while (count < 11 && DateTime.UtcNow < deadline);
        Assert.Equal(11, count);
        var status = await onStandby.StatusAsync();
        Assert.True(status.Standby);
        Assert.NotEqual("leader", status.Role);

        // Removing a member that is not in the group is a clear error.
        var e = await Assert.ThrowsAsync<KvServerException>(() => client.MemberRemoveAsync("127.0.0.1:1"));
        Assert.Equal(ErrorCode.MembershipFailed, e.Code);
    }
}

/// <summary>Backups: snapshot save over the wire, restore into a new group.</summary>
[Collection("cluster")]
public class SnapshotRestoreTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task SnapshotIsStreamedInChunksSoNoFrameHoldsTheWholeStore()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var client = cluster.Client();
        var value = new byte[100 << 10];
        for (var i = 0; i < 40; i++) await client.PutAsync(B($"big/{i:D2}"), value); // ~4 MiB of snapshot
        // A connection that takes frames of at most 2 MiB: a snapshot sent as one reply could not arrive over it.
        await using var conn = await KvConnection.OpenAsync(Endpoints.Parse(cluster.Members[0].ClientAddress), TestCluster.Token, 77,
            TimeSpan.FromSeconds(5), maxResponse: 2 << 20);
        var (_, frames) = await conn.OpenStreamAsync(Op.SnapshotStream, ReadOnlyMemory<byte>.Empty);
        using var file = new MemoryStream();
        var chunks = 0;
        while (true)
        {
            var chunk = Chunk(await frames.ReadAsync());
            if (chunk.Length == 0) break;
            Assert.InRange(chunk.Length, 1, Frame.SnapshotChunkBytes);
            chunks++;
            file.Write(chunk);
        }
        Assert.True(chunks >= 4, $"{chunks} chunks");
        file.Position = 0;
        var copy = new Tinyo.Kv.Mvcc.KeyValueStore();
        copy.Restore(file); // verifies the whole file (records and checksum)
        Assert.Equal(40, copy.Current.Count);

        // The client library reassembles the same snapshot (as `snapshot save` and a learner's copy do).
        using var viaClient = new MemoryStream();
        await client.SnapshotAsync(viaClient);
        viaClient.Position = 0;
        var copy2 = new Tinyo.Kv.Mvcc.KeyValueStore();
        copy2.Restore(viaClient);
        Assert.Equal(copy.Current.Revision, copy2.Current.Revision);
        Assert.Equal(40, copy2.Current.Count);
    }

    private static byte[] Chunk(byte[] reply)
    {
        var r = Reply.Open(reply);
        return r.BytesSpan().ToArray();
    }

    [Fact]
    public async Task SavedSnapshotRestoresIntoANewGroupWithKeysAndRevision()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var client = cluster.Client();
        for (var i = 0; i < 100; i++) await client.PutAsync(B($"s/{i:D3}"), B($"v{i}"));
        await client.DeleteAsync(new DeleteRangeRequest(B("s/000")));
        var before = await client.RangeAsync(new RangeRequest(B("s/"), RangeRequest.PrefixEnd(B("s/"))));
        var dir = Directory.CreateTempSubdirectory("tinyokv-restore-").FullName;
        Member? restored = null;
        try
        {
            var file = Path.Combine(dir, "backup.snap");
            string[] common = ["--endpoints", cluster.Members[0].ClientAddress, "--token", TestCluster.Token];
            var (code, _, err) = await Binary.RunAsync(["snapshot", "save", file, .. common]);
            Assert.True(code == 0, err);
            var data = Path.Combine(dir, "restored");
            (code, _, err) = await Binary.RunAsync(["snapshot", "restore", file, "--data-dir", data]);
            Assert.True(code == 0, err);
            (code, _, err) = await Binary.RunAsync(["snapshot", "restore", file, "--data-dir", data]);
            Assert.Equal(1, code);
            Assert.Contains("not empty", err);

            restored = new Member("r1", data, TestCluster.FreePort(), TestCluster.FreePort());
            cluster.Members.Add(restored);
            cluster.Members[0].Kill();
            restored.Start(TestCluster.Token, "--bootstrap");
            await using var rc = new Tinyo.Kv.Client.KvClient(new Tinyo.Kv.Client.KvClientOptions
            {
                Endpoints = [Endpoints.Parse(restored.ClientAddress)], Token = TestCluster.Token,
            });
            var after = await rc.RangeAsync(new RangeRequest(B("s/"), RangeRequest.PrefixEnd(B("s/"))));
            Assert.Equal(before.Revision, after.Revision);
            Assert.Equal(before.Kvs.Select(kv => (S(kv.Key), S(kv.Value), kv.ModRevision)), after.Kvs.Select(kv => (S(kv.Key), S(kv.Value), kv.ModRevision)));
            var put = await rc.PutAsync(B("s/new"), B("x"));
            Assert.Equal(before.Revision + 1, put.Revision);
        }
        finally
        {
            restored?.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string S(byte[] b) => Encoding.UTF8.GetString(b);
}
