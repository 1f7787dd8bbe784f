using System.Diagnostics;
using System.Net;
using Tinyo.Node.Network;
using Tinyo.Rt.Network;
using Xunit.Abstractions;

namespace Tinyo.Node.Tests.Network;

/// <summary>
/// The overlay's kernel data path, with the same rtnetlink calls <see cref="ClusterOverlay"/> makes, between two
/// "hosts" (network namespaces the test makes, joined by a veth as their network): each has the bridges of two
/// clusters X and Y, a replica of each, a VXLAN device per cluster on its bridge with the other host's entries and
/// routes, and the isolation and overlay tables. X's replicas talk across (a 3 MB transfer too: the tunnel's
/// smaller MTU is found by path MTU discovery); Y's replica on host 1 reaches neither X replica; after the entries
/// are removed the path is cut, and removal leaves nothing.
/// </summary>
public sealed class OverlayDataPathTests(ITestOutputHelper output)
{
    private sealed record Host(NetworkNamespace Ns, string Path, IPAddress Underlay);

    private static bool Reaches(string fromNetns, string ip, int port, string expect)
    {
        var (code, o) = NsExec.Run(fromNetns, "busybox", "nc", "-w", "2", ip, port.ToString());
        return code == 0 && o.Contains(expect);
    }

    [SkippableFact]
    public async Task Replicas_of_one_cluster_on_two_hosts_talk_over_vxlan_other_clusters_do_not_and_nothing_is_left()
    {
        Skip.If(Environment.UserName != "root", "needs root (network namespaces)");
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "nft is not installed (make deps)");
        var dir = Directory.CreateTempSubdirectory("tinyo-overlay-").FullName;
        string P(string n) => System.IO.Path.Combine(dir, n);
        var hosts = new List<Host>();
        var procs = new List<Process>();
        var replicas = new List<(NetworkNamespace Host, string Netns, string Veth)>();
        try
        {
            var h1 = new Host(NetworkNamespace.Create(P("h1")), P("h1"), IPAddress.Parse("10.55.0.1"));
            hosts.Add(h1);
            var h2 = new Host(NetworkNamespace.Create(P("h2")), P("h2"), IPAddress.Parse("10.55.0.2"));
            hosts.Add(h2);
            h1.Ns.Netlink.CreateVethPair("u0", "u0", h2.Ns.Fd);
            foreach (var h in hosts)
            {
                var nl = h.Ns.Netlink;
                nl.SetUp(nl.LinkIndex("lo"), true);
                int u = nl.LinkIndex("u0");
                nl.AddAddress(u, h.Underlay, 24);
                nl.SetUp(u, true);
                h.Ns.WriteSysctl("net.ipv4.ip_forward", "1");
            }
            // Cluster X: 10.66.1.0/24 on h1, 10.66.2.0/24 on h2; Y: 10.66.3.0/24 on h1, 10.66.4.0/24 on h2.
            var subnets = new Dictionary<(string Cluster, int Host), Ipv4Subnet>
            {
                [("x", 0)] = Ipv4Subnet.Parse("10.66.1.0/24"), [("x", 1)] = Ipv4Subnet.Parse("10.66.2.0/24"),
                [("y", 0)] = Ipv4Subnet.Parse("10.66.3.0/24"), [("y", 1)] = Ipv4Subnet.Parse("10.66.4.0/24"),
            };
            var vx = new Dictionary<(string, int), int>();
            for (int i = 0; i < 2; i++)
            {
                var nl = hosts[i].Ns.Netlink;
                foreach (var c in (string[])["x", "y"])
                {
                    var s = subnets[(c, i)];
                    int br = ClusterBridge.Ensure(nl, "tb" + c, s.At(1), 24);
                    var spec = new ReplicaNetworkSpec(P($"{c}{i + 1}"), VethName.For($"{c}{i + 1}"), br, s.At(2), 24, s.At(1));
                    ReplicaNetwork.Prepare(nl, spec);
                    replicas.Add((hosts[i].Ns, spec.NetnsPath, spec.HostVeth));
                    vx[(c, i)] = nl.CreateVxlan("tx" + c, ClusterOverlay.VniOf(c), hosts[i].Underlay, 4789, ClusterOverlay.MacOf(s), br);
                }
            }
            void Connect()
            {
                for (int i = 0; i < 2; i++)
                {
                    var nl = hosts[i].Ns.Netlink;
                    var other = hosts[1 - i];
                    foreach (var c in (string[])["x", "y"])
                    {
                        var far = subnets[(c, 1 - i)];
                        nl.SetRemote(vx[(c, i)], ClusterOverlay.MacOf(far), other.Underlay);
                        nl.SetOverlayRoute(far.At(0), 24, far.At(1), ClusterOverlay.MacOf(far), nl.LinkIndex("tb" + c));
                    }
                }
            }
            Connect();
            Connect(); // idempotent: a sync that finds everything in place changes nothing

            procs.Add(NsExec.Start(P("x2"), "busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/echo", "hello-from-x2"));
            procs.Add(NsExec.Start(P("x2"), "busybox", "nc", "-ll", "-p", "8081", "-e", "/bin/sh", "-c", "head -c 3000000 /dev/zero"));
            procs.Add(NsExec.Start(P("y2"), "busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/echo", "hello-from-y2"));
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (!Reaches(P("x1"), "10.66.2.2", 8080, "hello-from-x2") && DateTime.UtcNow < deadline) Thread.Sleep(200);
            Assert.True(Reaches(P("x1"), "10.66.2.2", 8080, "hello-from-x2"), "x1 reaches x2 on the other host over VXLAN");
            Assert.True(Reaches(P("y1"), "10.66.4.2", 8080, "hello-from-y2"), "y1 reaches y2 (its own cluster)");
            var bulk = NsExec.Run(P("x1"), "sh", "-c", "busybox nc -w 5 10.66.2.2 8081 | wc -c");
            Assert.Equal("3000000", bulk.Output.Trim());

            // The rules each node loads: isolation between the bridges, the overlay port for registered nodes only.
            for (int i = 0; i < 2; i++)
            {
                await IsolationTable.ApplyAsync(IsolationRules.Render([
                    new IsolatedCluster("x", "tbx", subnets[("x", i)], subnets[("x", i)].At(1)),
                    new IsolatedCluster("y", "tby", subnets[("y", i)], subnets[("y", i)].At(1), Egress: false),
                ], [17999]), hosts[i].Path);
                await IsolationTable.ApplyAsync(OverlayRules.Render("tinyo_vx", ["tbx", "tby"], [hosts[1 - i].Underlay], 4789), hosts[i].Path);
            }
            Assert.True(Reaches(P("x1"), "10.66.2.2", 8080, "hello-from-x2"), "x1 still reaches x2 with the rules loaded");
            Assert.True(Reaches(P("y1"), "10.66.4.2", 8080, "hello-from-y2"), "y (egress off) still reaches its own replica on the other host");
            Assert.False(Reaches(P("y1"), "10.66.2.2", 8080, "hello-from-x2"), "y1 must not reach x2 (another cluster, another host)");
            Assert.False(Reaches(P("y1"), "10.66.1.2", 8080, "hello-from-x2"), "nor x1");
            // A container cannot send to the tunnel port of another node (where it could forge another cluster's id).
            var rules = NsExec.Run(hosts[0].Path, "nft", "list", "table", "inet", "tinyo_vx").Output;
            Assert.Contains("udp dport 4789 drop", rules);
            output.WriteLine(rules);

            // Overlay routes are found by their protocol (what a restarted node removes).
            var routes = hosts[0].Ns.Netlink.ListRoutes().Where(r => r.Protocol == Rtnetlink.OverlayRouteProtocol).ToList();
            Assert.Equal(["10.66.2.0/24 via 10.66.2.1", "10.66.4.0/24 via 10.66.4.1"],
                routes.Select(r => $"{r.Destination}/{r.PrefixLength} via {r.Gateway}").Order());
            Assert.All(routes, r => Assert.True(r.OnLink));

            // The other host leaves: its entries and route go, the path is cut.
            var nl1 = hosts[0].Ns.Netlink;
            nl1.RemoveOverlayRoute(subnets[("x", 1)].At(0), 24, subnets[("x", 1)].At(1), nl1.LinkIndex("tbx"));
            nl1.RemoveRemote(vx[("x", 0)], ClusterOverlay.MacOf(subnets[("x", 1)]), hosts[1].Underlay);
            nl1.RemoveRemote(vx[("x", 0)], ClusterOverlay.MacOf(subnets[("x", 1)]), hosts[1].Underlay); // gone already: no error
            Assert.False(Reaches(P("x1"), "10.66.2.2", 8080, "hello-from-x2"), "no route, no entry: no path");
        }
        finally
        {
            foreach (var p in procs) NsExec.Stop(p);
            foreach (var (h, ns, veth) in replicas) ReplicaNetwork.Remove(h.Netlink, ns, veth);
            foreach (var h in hosts)
            {
                foreach (var l in (string[])["txx", "txy", "tbx", "tby"]) h.Ns.Netlink.TryDeleteLink(l);
                await IsolationTable.RemoveAsync(netnsPath: h.Path);
                await IsolationTable.RemoveAsync("tinyo_vx", h.Path);
            }
        }
        try
        {
            foreach (var h in hosts)
            {
                Assert.Equal(["lo", "u0"], h.Ns.Netlink.ListLinks().Select(l => l.Name).Order());
                Assert.DoesNotContain(h.Ns.Netlink.ListRoutes(), r => r.Protocol == Rtnetlink.OverlayRouteProtocol);
            }
        }
        finally
        {
            foreach (var h in hosts)
            {
                h.Ns.Dispose();
                NetworkNamespace.Remove(h.Path);
            }
            Directory.Delete(dir, true);
        }
    }
}
