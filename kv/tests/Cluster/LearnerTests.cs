using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>
/// Learners (serve --learner): a 3-member group and a learner process that copies it by snapshot and follows it
/// through a watch. They pin down that the learner holds the group's data with the same revisions, serves
/// reads and watches like a member, redirects writes, never counts in the quorum, resumes after a restart and
/// copies the store again when the revision it stopped at was compacted.
/// </summary>
[Collection("cluster")]
public class LearnerTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static readonly RangeRequest Everything = new([], [0], Serializable: true);

    private static string Dump(RangeResponse r)
        => $"rev {r.Revision}: " + string.Join("; ", r.Kvs.Select(Dump));

    private static string Dump(KeyValue kv)
        => $"{Encoding.UTF8.GetString(kv.Key)}={Encoding.UTF8.GetString(kv.Value)} c{kv.CreateRevision} m{kv.ModRevision} v{kv.Version} l{kv.Lease}";

    private static string Dump(WatchFrame f)
        => $"@{f.Revision}[" + string.Join(", ", f.Events.Select(e => $"{e.Type} {Dump(e.Kv)} prev({(e.PrevKv is null ? "-" : Dump(e.PrevKv))})")) + "]";

    /// <summary>Waits until the learner answers (it listens once it holds a copy).</summary>
    private static async Task<StatusInfo> ServingAsync(TestCluster cluster, Member learner)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await using var probe = new KvClient(new KvClientOptions
                {
                    Endpoints = [Endpoints.Parse(learner.ClientAddress)], Token = TestCluster.Token, RequestTimeout = TimeSpan.FromSeconds(2),
                });
                return await probe.StatusAsync();
            }
            catch (KvException) when (DateTime.UtcNow < deadline && learner.Running)
            {
                await Task.Delay(100);
            }
            catch (KvException e)
            {
                throw new TimeoutException($"learner not serving: {e.Message}\n{cluster.Logs()}");
            }
        }
    }

    /// <summary>Waits until the learner's local state equals the group's (linearizable read on a member); returns it.</summary>
    private static async Task<string> ConvergedAsync(TestCluster cluster, KvClient member, KvClient learner)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string want, got;
        // The group may move on meanwhile (the learner's own registration is a write): compare fresh reads each time.
        while ((want = Dump(await member.RangeAsync(Everything with { Serializable = false }))) != (got = Dump(await learner.RangeAsync(Everything)))
               && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.True(want == got, $"learner did not converge\nwant {want}\ngot  {got}\n{cluster.Logs()}");
        return got;
    }

    /// <summary>Collects a watch's frames until an event on <paramref name="lastKey"/>.</summary>
    private static async Task<List<string>> CollectAsync(KvClient client, long from, string lastKey, CancellationToken ct)
    {
        var frames = new List<string>();
        await foreach (var f in client.WatchAsync([], [0], from, prevKv: true, ct))
        {
            frames.Add(Dump(f));
            if (f.Events.Any(e => Encoding.UTF8.GetString(e.Kv.Key) == lastKey)) break;
        }
        return frames;
    }

    private static async Task<IReadOnlyList<MemberInfo>> WaitForListAsync(KvClient client, Func<IReadOnlyList<MemberInfo>, bool> ok, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(25);
        IReadOnlyList<MemberInfo> list;
        while (!ok(list = await client.MemberListAsync()))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"member list never {what}: {string.Join("; ", list)}");
            await Task.Delay(200);
        }
        return list;
    }

    [Fact]
    public async Task LearnerCopiesTheGroupServesReadsAndWatchesAndRedirectsWrites()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client(cluster.Members.ToArray());
        for (var i = 0; i < 20; i++) await client.PutAsync(B($"a/{i}"), B($"v{i}"));

        var learner = cluster.NewLearner();
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, "--snapshot-every", "5");
        var status = await ServingAsync(cluster, learner);
        Assert.Equal("learner", status.Role);
        var onLearner = cluster.Client(learner);

        // It registers itself: listed by members and by itself, after the three Raft members, which stay three.
        var fromMember = await WaitForListAsync(client, l => l.Any(m => m.Learner), "showed the learner");
        Assert.Equal(3, fromMember.Count(m => !m.Learner));
        var entry = Assert.Single(fromMember, m => m.Learner);
        Assert.Equal(("l1", learner.ClientAddress, ""), (entry.Name, entry.ClientAddress, entry.PeerAddress));
        Assert.Equal(fromMember.Select(m => m.Name + m.Learner).Order(), (await onLearner.MemberListAsync()).Select(m => m.Name + m.Learner).Order());
        var cli = await Binary.RunAsync(["--endpoints", cluster.Members[0].ClientAddress, "--token", TestCluster.Token, "member", "list"]);
        Assert.Contains($"l1, -, {learner.ClientAddress}, available, learner", cli.Out);

        await ConvergedAsync(cluster, client, onLearner);
        var start = (await client.RangeAsync(Everything with { Serializable = false, CountOnly = true })).Revision;

        // The same live events on the learner and on a member: puts, a transaction, a range delete, a lease revoke.
        using var watchTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var onMember = CollectAsync(cluster.Client(cluster.Members[1]), start + 1, "w/end", watchTimeout.Token);
        var onLearnerWatch = CollectAsync(cluster.Client(learner), start + 1, "w/end", watchTimeout.Token);
        await Task.Delay(300); // both registered (either way, both replay from start + 1)
        await client.PutAsync(B("a/x"), B("new"));
        await client.PutAsync(B("a/0"), B("again"));
        await client.TxnAsync(new TxnRequest([], [
            new TxnOp(Put: new PutRequest(B("t/1"), B("one"))),
            new TxnOp(Put: new PutRequest(B("t/2"), B("two"))),
            new TxnOp(Delete: new DeleteRangeRequest(B("a/2"))),
        ], []));
        await client.DeleteAsync(new DeleteRangeRequest(B("a/1"), RangeRequest.PrefixEnd(B("a/1")), PrevKv: true));
        var (lease, _) = await client.LeaseGrantAsync(60);
        await client.PutAsync(B("l/k"), B("leased"), lease);
        await client.LeaseRevokeAsync(lease);
        await client.PutAsync(B("w/end"), B("."));
        var memberFrames = await onMember;
        var learnerFrames = await onLearnerWatch;
        Assert.True(memberFrames.Count >= 7, string.Join("\n", memberFrames));
        Assert.Equal(memberFrames, learnerFrames);

        // Same data, revisions and versions; the same answers at a past revision.
        await ConvergedAsync(cluster, client, onLearner);
        var past = new RangeRequest(B("a/"), RangeRequest.PrefixEnd(B("a/")), Serializable: true, Revision: start + 2);
        Assert.Equal(Dump(await client.RangeAsync(past with { Serializable = false })), Dump(await onLearner.RangeAsync(past)));
        Assert.Equal((await client.RangeAsync(Everything with { Serializable = false })).Revision, (await onLearner.StatusAsync()).Revision);

        // A linearizable read on the learner sees a write acknowledged just before (read index through the group).
        for (var i = 0; i < 5; i++)
        {
            await client.PutAsync(B("lin/k"), B($"{i}"));
            Assert.Equal($"{i}", Encoding.UTF8.GetString((await onLearner.GetAsync(B("lin/k")))!.Value));
        }

        // Writes through the learner are redirected to the leader and applied once.
        await using var writer = new KvClient(new KvClientOptions
        {
            Endpoints = [Endpoints.Parse(learner.ClientAddress)], Token = TestCluster.Token, RequestTimeout = TimeSpan.FromSeconds(10),
        });
        var put = await writer.PutAsync(B("via/learner"), B("yes"));
        var read = await client.GetAsync(B("via/learner"));
        Assert.Equal((1L, put.Revision), (read!.Version, read.ModRevision));

        // Its registration deleted by someone: it puts it back.
        await client.DeleteAsync(new DeleteRangeRequest(B("/tinyokv/learners/"), RangeRequest.PrefixEnd(B("/tinyokv/learners/"))));
        await WaitForListAsync(client, l => l.Any(m => m.Learner), "showed the learner again");

        // Started without --listen-peer, it cannot be promoted; status says what it is.
        cli = await Binary.RunAsync(["--endpoints", cluster.Members[0].ClientAddress, "--token", TestCluster.Token, "member", "promote", "l1"]);
        Assert.Equal(1, cli.Code);
        Assert.Contains("started without --listen-peer", cli.Err);
        cli = await Binary.RunAsync(["--endpoints", learner.ClientAddress, "--token", TestCluster.Token, "status"]);
        Assert.Contains("role=learner", cli.Out);
        Assert.Contains("copies=1", cli.Out);

        // A clean stop revokes its lease: it leaves the list at once.
        learner.Terminate();
        Assert.Equal(0, await learner.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        await WaitForListAsync(client, l => !l.Any(m => m.Learner), "dropped the stopped learner");
        Assert.Equal(3, (await client.MemberListAsync()).Count);
    }

    [Fact]
    public async Task LearnerIsNotInTheQuorumResumesAfterRestartAndCopiesAgainAfterCompaction()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client(cluster.Members.ToArray());
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"k/{i}"), B("v"));
        var learner = cluster.NewLearner();
        string[] flags = ["--snapshot-every", "5"];
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, flags);
        await ServingAsync(cluster, learner);
        var onLearner = cluster.Client(learner);
        await ConvergedAsync(cluster, client, onLearner);
        Assert.Equal(1, (await onLearner.StatusAsync()).SnapshotsInstalled);

        // Killing the learner never affects writes: each still answers well within a short timeout.
        learner.Kill();
        await using (var quick = new KvClient(new KvClientOptions
        {
            Endpoints = cluster.Members.Select(m => Endpoints.Parse(m.ClientAddress)).ToList(),
            Token = TestCluster.Token,
            RequestTimeout = TimeSpan.FromSeconds(3),
        }))
        {
            for (var i = 0; i < 20; i++) await quick.PutAsync(B($"k/down/{i}"), B("v"));
        }
        // Killed, it deregisters by its lease expiring.
        await WaitForListAsync(client, l => !l.Any(m => m.Learner), "dropped the killed learner");

        // Restarted, it resumes from its saved copy and follows from there (no new copy).
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, flags);
        await ServingAsync(cluster, learner);
        await ConvergedAsync(cluster, client, onLearner);
        Assert.Equal(0, (await onLearner.StatusAsync()).SnapshotsInstalled);
        Assert.Contains("resumed its saved copy", learner.Log);

        // Down while the group compacts past where it stopped: restarted, it copies the store again.
        learner.Kill();
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"k/compacted/{i}"), B("v"));
        var now = (await client.RangeAsync(Everything with { Serializable = false, CountOnly = true })).Revision;
        await client.CompactAsync(now);
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, flags);
        await ServingAsync(cluster, learner);
        // Its registration (a write) comes after it serves: let it land before recording the state to compare with.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (((await client.GetAsync(B("/tinyokv/learners/l1")))?.ModRevision ?? 0) <= now && DateTime.UtcNow < deadline) await Task.Delay(100);
        var before = await ConvergedAsync(cluster, client, onLearner);
        Assert.Equal(1, (await onLearner.StatusAsync()).SnapshotsInstalled);
        Assert.Contains("no longer held", learner.Log);

        // Two of three voters down: the group refuses writes (the learner is no voter), the learner still serves
        // serializable reads of what it had — and refuses linearizable ones, which need the group.
        var leader = await cluster.LeaderAsync();
        leader.Kill();
        cluster.Members.First(m => m.Running).Kill();
        await using var lone = new KvClient(new KvClientOptions
        {
            Endpoints = [.. cluster.Members.Where(m => m.Running).Select(m => Endpoints.Parse(m.ClientAddress)), Endpoints.Parse(learner.ClientAddress)],
            Token = TestCluster.Token,
            RequestTimeout = TimeSpan.FromSeconds(4),
        });
        var e = await Assert.ThrowsAsync<KvServerException>(() => lone.PutAsync(B("k/no-quorum"), B("v")));
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        await using var reader = new KvClient(new KvClientOptions
        {
            Endpoints = [Endpoints.Parse(learner.ClientAddress)], Token = TestCluster.Token, RequestTimeout = TimeSpan.FromSeconds(4),
        });
        Assert.Equal(before, Dump(await reader.RangeAsync(Everything)));
        e = await Assert.ThrowsAsync<KvServerException>(() => reader.GetAsync(B("k/0")));
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        Assert.Equal("learner", (await reader.StatusAsync()).Role);
    }

    [Fact]
    public async Task PromotedLearnerBecomesAVotingMember()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client(cluster.Members.ToArray());
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"p/{i}"), B("v"));
        var learner = cluster.NewLearner(promotable: true);
        string[] flags = ["--listen-peer", learner.PeerAddress];
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, flags);
        await ServingAsync(cluster, learner);
        await WaitForListAsync(client, l => l.Any(m => m.Learner), "showed the learner");
        string[] cli = ["--endpoints", cluster.Members[0].ClientAddress, "--token", TestCluster.Token];

        var r = await Binary.RunAsync([.. cli, "member", "promote", "nobody"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("no running learner named nobody", r.Err);
        r = await Binary.RunAsync([.. cli, "member", "promote", "l1"]);
        Assert.True(r.Code == 0, r.Err + "\n" + cluster.Logs());
        Assert.Contains("learner l1 promoted", r.Out);

        // Now a Raft member under the same name and client address, and no longer a learner.
        var list = await WaitForListAsync(client, l => l.Count == 4 && !l.Any(m => m.Learner) && l.All(m => m.Status == "available"), "showed four members");
        var promoted = Assert.Single(list, m => m.Name == "l1");
        Assert.Equal((learner.PeerAddress, learner.ClientAddress), (promoted.PeerAddress, promoted.ClientAddress));
        var onPromoted = cluster.Client(learner);
        Assert.NotEqual("learner", (await onPromoted.StatusAsync()).Role);
        await ConvergedAsync(cluster, client, onPromoted);

        // It votes and counts: with the leader killed, the two other original members need its vote (3 of 4) to
        // elect a leader and its acknowledgement to commit.
        var leader = await cluster.LeaderAsync();
        leader.Kill();
        await using var rest = new KvClient(new KvClientOptions
        {
            Endpoints = [.. cluster.Members.Where(m => m.Running).Select(m => Endpoints.Parse(m.ClientAddress)), Endpoints.Parse(learner.ClientAddress)],
            Token = TestCluster.Token,
            RequestTimeout = TimeSpan.FromSeconds(20),
        });
        await rest.PutAsync(B("p/after-kill"), B("v"));

        // Restarted with the same flags, it runs as the member it became.
        learner.Kill();
        learner.StartLearner(TestCluster.Token, cluster.MemberEndpoints, flags);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!learner.Log.Contains("was promoted from a learner") && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Contains("was promoted from a learner", learner.Log);
        await rest.PutAsync(B("p/after-restart"), B("v"));
        Assert.NotNull(await cluster.Client(learner).GetAsync(B("p/after-restart")));
    }

    [Fact]
    public async Task LearnerFlagsAreChecked()
    {
        string[] serve = ["serve", "--learner", "--data-dir", Path.Combine(Path.GetTempPath(), "tinyokv-never-created"), "--token", "t"];
        var r = await Binary.RunAsync(serve);
        Assert.Equal(1, r.Code);
        Assert.Contains("--learner needs --join", r.Err);
        r = await Binary.RunAsync([.. serve, "--join", "127.0.0.1:1", "--bootstrap"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("--learner does not take --bootstrap", r.Err);
        r = await Binary.RunAsync([.. serve, "--join", "127.0.0.1:1", "--standby"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("--learner does not take --standby", r.Err);
        Assert.False(Directory.Exists(Path.Combine(Path.GetTempPath(), "tinyokv-never-created")));
    }
}
