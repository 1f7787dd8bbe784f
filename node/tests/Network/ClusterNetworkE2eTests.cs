using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tinyo.Node.Network;
using Tinyo.Rt.Network;
using Xunit.Abstractions;

namespace Tinyo.Node.Tests.Network;

/// <summary>
/// Cluster networks end to end, all inside namespaces the test makes: a "host" namespace holding two clusters'
/// bridges (A and B), three replica namespaces prepared by <see cref="ReplicaNetwork"/> (A1, A2 in A; B1 in B),
/// the DNS responder of A on A's bridge address, and the isolation table loaded by nft in the host namespace.
/// </summary>
public sealed class ClusterNetworkE2eTests(ITestOutputHelper output)
{
    private static readonly IPAddress GwA = IPAddress.Parse("10.66.1.1"), GwB = IPAddress.Parse("10.66.2.1");

    private static bool Reaches(string fromNetns, string ip, int port, string expect)
    {
        var (code, o) = NsExec.Run(fromNetns, "busybox", "nc", "-w", "2", ip, port.ToString());
        return code == 0 && o.Contains(expect);
    }

    private static void WaitListening(string netns, string ip, int port, string expect, string from)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!Reaches(from, ip, port, expect))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{ip}:{port} in {netns} never answered");
            Thread.Sleep(100);
        }
    }

    [Fact]
    public async Task Replicas_of_one_cluster_talk_and_resolve_by_name_other_clusters_and_node_ports_are_cut_off_and_nothing_is_left()
    {
        var dir = Directory.CreateTempSubdirectory("tinyo-clusternet-").FullName;
        string P(string n) => Path.Combine(dir, n);
        NetworkNamespace? host = null;
        Process? serverA2 = null, apiOnHost = null;
        DnsServer? dns = null;
        var replicas = new List<(string Netns, string Veth)>();
        try
        {
            host = NetworkNamespace.Create(P("host"));
            host.WriteSysctl("net.ipv4.ip_forward", "1"); // as on a node: without it B could not reach A anyway
            var nl = host.Netlink;
            int brA = ClusterBridge.Ensure(nl, "tya", GwA, 24);
            int brB = ClusterBridge.Ensure(nl, "tyb", GwB, 24);
            void Replica(string name, int bridge, string addr, IPAddress gw)
            {
                var spec = new ReplicaNetworkSpec(P(name), VethName.For(name), bridge, IPAddress.Parse(addr), 24, gw);
                replicas.Add((spec.NetnsPath, spec.HostVeth));
                ReplicaNetwork.Prepare(nl, spec);
            }
            Replica("a1", brA, "10.66.1.2", GwA);
            Replica("a2", brA, "10.66.1.3", GwA);
            Replica("b1", brB, "10.66.2.2", GwB);

            // A2 serves; the host namespace has a stand-in for the node's API port on A's gateway address.
            serverA2 = NsExec.Start(P("a2"), "busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/echo", "hello-from-a2");
            apiOnHost = NsExec.Start(P("host"), "busybox", "nc", "-ll", "-p", "17999", "-e", "/bin/echo", "node-api");
            WaitListening("a2", "10.66.1.3", 8080, "hello-from-a2", P("a1"));
            WaitListening("host", "10.66.1.1", 17999, "node-api", P("a1"));

            // DNS of cluster A, bound on A's bridge address inside the host namespace.
            var names = new DnsNameTable();
            names.SetApp("db", [new DnsReplica(2, IPAddress.Parse("10.66.1.3"), true)]);
            dns = new DnsServer(names);
            dns.Start(host.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp),
                host.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), new IPEndPoint(GwA, 53));

            // Before the isolation table: routing between the bridges works (the test would prove nothing otherwise).
            Assert.True(Reaches(P("b1"), "10.66.1.3", 8080, "hello-from-a2"), "B reaches A before isolation (ip_forward on)");

            await IsolationTable.ApplyAsync(IsolationRules.Render([
                new IsolatedCluster("a", "tya", Ipv4Subnet.Parse("10.66.1.0/24"), GwA),
                new IsolatedCluster("b", "tyb", Ipv4Subnet.Parse("10.66.2.0/24"), GwB),
            ], [17999]), P("host"));

            Assert.True(Reaches(P("a1"), "10.66.1.3", 8080, "hello-from-a2"), "A1 reaches A2 over TCP");
            Assert.False(Reaches(P("b1"), "10.66.1.3", 8080, "hello-from-a2"), "B must not reach A's replicas");
            Assert.False(Reaches(P("a1"), "10.66.1.1", 17999, "node-api"), "A must not reach the node's ports");
            Assert.Equal(1, NsExec.Run(P("a1"), "busybox", "ping", "-c", "1", "-W", "1", "10.66.2.2").Code); // nor B's replica

            // A1 resolves A2 by name through its cluster's responder (busybox nslookup; dig when installed).
            var lookup = File.Exists("/usr/bin/dig")
                ? NsExec.Run(P("a1"), "dig", "@10.66.1.1", "db", "+short", "+tries=1", "+time=2")
                : NsExec.Run(P("a1"), "busybox", "nslookup", "db", "10.66.1.1");
            Assert.True(lookup.Code == 0 && lookup.Output.Contains("10.66.1.3"), lookup.Output);
            var byReplica = NsExec.Run(P("a1"), "busybox", "nslookup", "db-2", "10.66.1.1");
            Assert.Contains("10.66.1.3", byReplica.Output);
            // B cannot use A's responder either.
            var fromB = NsExec.Run(P("b1"), "busybox", "nslookup", "-timeout=1", "-retry=1", "db", "10.66.1.1");
            Assert.DoesNotContain("10.66.1.3", fromB.Output);
        }
        finally
        {
            NsExec.Stop(serverA2);
            NsExec.Stop(apiOnHost);
            if (dns is not null) await dns.DisposeAsync();
            if (host is not null)
            {
                foreach (var (ns, veth) in replicas) ReplicaNetwork.Remove(host.Netlink, ns, veth);
                ClusterBridge.Remove(host.Netlink, "tya");
                ClusterBridge.Remove(host.Netlink, "tyb");
                await IsolationTable.RemoveAsync(netnsPath: P("host"));
            }
        }
        // Teardown left nothing: only lo in the host namespace, no table, no namespace file but the host's.
        try
        {
            Assert.Equal(["lo"], host!.Netlink.ListLinks().Select(l => l.Name));
            Assert.False(await IsolationTable.ExistsAsync(netnsPath: P("host")));
            Assert.Equal([P("host")], Directory.GetFiles(dir));
        }
        finally
        {
            host?.Dispose();
            NetworkNamespace.Remove(P("host"));
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Replica_network_setup_time_over_200_namespaces()
    {
        const int n = 200;
        var dir = Directory.CreateTempSubdirectory("tinyo-netbench-").FullName;
        string P(string name) => Path.Combine(dir, name);
        using var host = NetworkNamespace.Create(P("host"));
        var made = new List<ReplicaNetworkSpec>();
        var times = new double[n];
        var removeTimes = new double[n];
        double[] nsT = new double[n], vethT = new double[n], cfgT = new double[n];
        try
        {
            int br = ClusterBridge.Ensure(host.Netlink, "tyb", IPAddress.Parse("10.70.0.1"), 16);
            // Warm-up (JIT, the namespace thread): not counted.
            var warm = new ReplicaNetworkSpec(P("warm"), "tvwarm", br, IPAddress.Parse("10.70.255.254"), 16, IPAddress.Parse("10.70.0.1"));
            ReplicaNetwork.Prepare(host.Netlink, warm);
            ReplicaNetwork.Remove(host.Netlink, warm.NetnsPath, warm.HostVeth);
            for (int i = 0; i < n; i++)
            {
                var spec = new ReplicaNetworkSpec(P($"r{i}"), VethName.For($"r{i}"), br,
                    IPAddress.Parse($"10.70.{(i + 2) / 256}.{(i + 2) % 256}"), 16, IPAddress.Parse("10.70.0.1"));
                var sw = Stopwatch.StartNew();
                var phases = ReplicaNetwork.Prepare(host.Netlink, spec);
                times[i] = sw.Elapsed.TotalMilliseconds;
                made.Add(spec);
                (nsT[i], vethT[i], cfgT[i]) = (phases.Namespace.TotalMilliseconds, phases.Veth.TotalMilliseconds, phases.Configure.TotalMilliseconds);
            }
            Assert.Equal(n, host.Netlink.ListLinks().Count(l => l.Master == br));
            for (int i = 0; i < n; i++)
            {
                var sw = Stopwatch.StartNew();
                ReplicaNetwork.Remove(host.Netlink, made[i].NetnsPath, made[i].HostVeth);
                removeTimes[i] = sw.Elapsed.TotalMilliseconds;
            }
            made.Clear();
        }
        finally
        {
            foreach (var s in made) ReplicaNetwork.Remove(host.Netlink, s.NetnsPath, s.HostVeth);
            ClusterBridge.Remove(host.Netlink, "tyb");
        }
        Array.Sort(times);
        Array.Sort(removeTimes);
        Array.Sort(nsT);
        Array.Sort(vethT);
        Array.Sort(cfgT);
        double Pct(double[] a, double p) => a[Math.Min(a.Length - 1, (int)Math.Ceiling(p * a.Length) - 1)];
        var line = $"replica network set-up (netns + veth + address + route), {n} runs: median {Pct(times, 0.5):F3} ms, p99 {Pct(times, 0.99):F3} ms, "
            + $"min {times[0]:F3} ms; phases median/p99: namespace {Pct(nsT, 0.5):F3}/{Pct(nsT, 0.99):F3}, veth {Pct(vethT, 0.5):F3}/{Pct(vethT, 0.99):F3}, "
            + $"configure {Pct(cfgT, 0.5):F3}/{Pct(cfgT, 0.99):F3} ms; removal median {Pct(removeTimes, 0.5):F3} ms, p99 {Pct(removeTimes, 0.99):F3} ms (load {File.ReadAllText("/proc/loadavg").Split(' ')[0]})";
        output.WriteLine(line);
        File.AppendAllText(Path.Combine(Path.GetTempPath(), "tinyo-netsetup.txt"), line + "\n");
        Assert.Equal(["lo"], host.Netlink.ListLinks().Select(l => l.Name));
        host.Dispose();
        NetworkNamespace.Remove(P("host"));
        Assert.Empty(Directory.GetFiles(dir));
        Directory.Delete(dir);
    }
}
