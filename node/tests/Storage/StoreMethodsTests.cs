using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Store;
using Tinyo.Node.Tests.Network;

namespace Tinyo.Node.Tests.Storage;

/// <summary>The typed store methods the API uses, against a real tinyokv process.</summary>
public sealed class StoreMethodsTests
{
    [Fact]
    public async Task Initialize_succeeds_once_and_writes_the_net_and_user_together()
    {
        await using var kv = await KvProcess.StartAsync();
        var store = new StateStore(kv.Client());
        var init = new ClusterInit(store);
        Assert.Null(await init.NetAsync(default));

        var alice = new StoredUser("alice", "c2FsdA==", "aGFzaA==", 1000, DateTimeOffset.UtcNow, "id-1");
        Assert.True(await init.InitializeAsync(new NetInfo("prod", DateTimeOffset.UtcNow), alice, default));
        Assert.Equal("prod", await init.NetAsync(default));
        Assert.Equal("prod", (await store.GetAsync(Keys.Nets + "prod", ApiJson.Default.NetInfo, default))?.Name);
        Assert.Equal("id-1", (await store.GetAsync(Keys.Users + "alice", StoreJson.Default.StoredUser, default))?.Id);

        // A second init writes nothing at all: neither its net nor its user.
        var bob = alice with { Name = "bob", Id = "id-2" };
        Assert.False(await init.InitializeAsync(new NetInfo("other", DateTimeOffset.UtcNow), bob, default));
        Assert.Equal("prod", await init.NetAsync(default));
        Assert.False(await store.ExistsAsync(Keys.Nets + "other", default));
        Assert.False(await store.ExistsAsync(Keys.Users + "bob", default));
        Assert.Equal(1, await store.CountAsync(Keys.Users, default));
    }

    [Fact]
    public async Task Apps_are_put_in_one_transaction_and_read_back()
    {
        await using var kv = await KvProcess.StartAsync();
        var store = new StateStore(kv.Client());
        var logged = new List<string>();
        var apps = new DesiredApps(store, logged.Add);
        var before = await store.RevisionAsync(default);

        await apps.PutAsync([], default); // nothing to write: no transaction, no new revision
        Assert.Equal(before, await store.RevisionAsync(default));

        var now = DateTimeOffset.UtcNow;
        var specs = Statefile.Parse("name: web\ncontainer: busybox\n---\nname: db\ncontainer: busybox\n", "apps.yaml");
        await apps.PutAsync([.. specs.Select(s => new AppRecord(s, "apps.yaml", now, now))], default);
        // One transaction: both keys carry the same, single new revision.
        Assert.Equal(before + 1, await store.RevisionAsync(default));
        var (read, revision) = await apps.ReadAsync(default);
        Assert.Equal(before + 1, revision);
        Assert.Equal(["db", "web"], read.Keys.Order());
        Assert.Equal(specs[0].Image, read["web"].Image);
        Assert.Contains("busybox", read["web"].Image, StringComparison.Ordinal);
        Assert.Empty(logged);
    }
}
