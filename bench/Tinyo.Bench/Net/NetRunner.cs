using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tinyo.Rt.Network;

namespace Tinyo.Bench.Net;

/// <summary>
/// Cluster-network measurements at the runtime level (issue 12), all inside a "host" network namespace of the run's
/// own (a bind-mounted namespace under a temp dir), so the machine's network is never touched and everything goes
/// with it:
/// <list type="bullet">
/// <item><c>net setup [N]</c>: N replica set-ups (namespace + veth + address + route) three ways — cold
/// (<see cref="ReplicaNetwork.Prepare"/>), from a <see cref="ReplicaNetworkPool"/> filled ahead (the start path), and
/// from a small pool refilling in the background while set-ups arrive 5 ms apart — with median, p99 and phases.</item>
/// <item><c>net scale [N]</c>: N replicas on one bridge (a /21): every set-up time, the kernel memory they hold,
/// a check that every namespace has its address and that the first reaches the last over TCP, then the removal.</item>
/// <item><c>net pair up|down DIR</c>: two replicas on one bridge, namespaces at DIR/a and DIR/b (10.79.0.2, .3),
/// for iperf3/sockperf run by <c>bench/net.sh</c> through <c>nsenter --net=</c>; <c>down</c> removes all (idempotent).</item>
/// </list>
/// Output: markdown lines on stdout; progress on stderr.
/// </summary>
public static class NetRunner
{
    public static int Run(string[] args) => args switch
    {
        ["setup", ..] => Setup(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200),
        ["scale", ..] => Scale(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1000),
        ["pair", "up", var dir] => PairUp(dir),
        ["pair", "down", var dir] => PairDown(dir),
        _ => Usage(),
    };

    private static int Usage()
    {
        Console.Error.WriteLine("usage: Tinyo.Bench net setup [N] | net scale [N] | net pair up|down DIR");
        return 2;
    }

    /// <summary>A temp dir holding the run's own "host" namespace; disposing removes every namespace file in it.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch(string? dir = null)
        {
            Dir = dir ?? Directory.CreateTempSubdirectory("tinyo-netbench-").FullName;
            Directory.CreateDirectory(Dir);
            Host = NetworkNamespace.Create(Path.Combine(Dir, "host"));
        }

        public string Dir { get; }
        public NetworkNamespace Host { get; }
        public string P(string name) => Path.Combine(Dir, name);

        public void Dispose()
        {
            Host.Dispose();
            foreach (var f in Directory.GetFiles(Dir)) NetworkNamespace.Remove(f);
            Directory.Delete(Dir, true);
        }
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static double Pct(List<double> xs, double p)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a[Math.Clamp((int)Math.Ceiling(p * a.Length) - 1, 0, a.Length - 1)];
    }

    private static string Ms(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

    private static string Stats(List<double> xs) => $"median {Ms(Pct(xs, 0.5))} ms · p99 {Ms(Pct(xs, 0.99))} ms · min {Ms(xs.Min())} ms";

    private static ReplicaNetworkSpec Spec(Scratch s, int br, int i, int third = 70) =>
        new(s.P($"r{i}"), VethName.For($"bench-{i}"), br, IPAddress.Parse($"10.{third}.{(i + 2) / 256}.{(i + 2) % 256}"), 16,
            IPAddress.Parse($"10.{third}.0.1"));

    private sealed class Phases
    {
        public readonly List<double> Total = [], Ns = [], Veth = [], Cfg = [];

        public void Add(double total, ReplicaSetupTimes t)
        {
            Total.Add(total);
            Ns.Add(t.Namespace.TotalMilliseconds);
            Veth.Add(t.Veth.TotalMilliseconds);
            Cfg.Add(t.Configure.TotalMilliseconds);
        }

        public string Line(string name, string[] phaseNames) =>
            $"| {name} | {Total.Count} | {Ms(Pct(Total, 0.5))} | {Ms(Pct(Total, 0.99))} | {Ms(Total.Min())} | "
            + $"{phaseNames[0]} {Ms(Pct(Ns, 0.5))} · {phaseNames[1]} {Ms(Pct(Veth, 0.5))} · {phaseNames[2]} {Ms(Pct(Cfg, 0.5))} |";
    }

    private static int Setup(int n)
    {
        using var s = new Scratch();
        var nl = s.Host.Netlink;
        var made = new List<ReplicaNetworkSpec>();
        string loadBefore = Load();
        var cold = new Phases();
        var pooled = new Phases();
        var unbridged = new Phases();
        var paced = new Phases();
        var removal = new List<double>();
        double fillPerEntry;
        int pacedHits;
        try
        {
            int br = ClusterBridge.Ensure(nl, "tynb", IPAddress.Parse("10.70.0.1"), 16);
            void RemoveAll()
            {
                foreach (var m in made)
                {
                    var sw = Stopwatch.StartNew();
                    ReplicaNetwork.Remove(nl, m.NetnsPath, m.HostVeth);
                    removal.Add(sw.Elapsed.TotalMilliseconds);
                }
                made.Clear();
            }
            // Warm-up: JIT, the namespace thread, the pool's code paths; not counted.
            using (var warmPool = new ReplicaNetworkPool(1, s.Host.Path, refillInBackground: false))
            {
                warmPool.Fill();
                for (int i = 0; i < 2; i++)
                {
                    var w = Spec(s, br, 60000 + i);
                    made.Add(w);
                    warmPool.Prepare(nl, w);
                }
            }
            RemoveAll();
            removal.Clear();

            Console.Error.WriteLine($"net setup: {n} cold set-ups");
            for (int i = 0; i < n; i++)
            {
                var spec = Spec(s, br, i);
                var sw = Stopwatch.StartNew();
                var t = ReplicaNetwork.Prepare(nl, spec);
                cold.Add(sw.Elapsed.TotalMilliseconds, t);
                made.Add(spec);
            }
            RemoveAll();

            Console.Error.WriteLine($"net setup: {n} set-ups from a pool on no bridge, filled ahead");
            using (var pool = new ReplicaNetworkPool(n, s.Host.Path, refillInBackground: false))
            {
                pool.Fill();
                for (int i = 0; i < n; i++)
                {
                    var spec = Spec(s, br, i);
                    var sw = Stopwatch.StartNew();
                    var t = pool.Prepare(nl, spec);
                    unbridged.Add(sw.Elapsed.TotalMilliseconds, t);
                    made.Add(spec);
                    if (!t.Pooled) throw new InvalidOperationException("a filled pool fell back");
                }
            }
            RemoveAll();

            Console.Error.WriteLine($"net setup: {n} set-ups from a pool for the bridge, filled ahead");
            using (var pool = new ReplicaNetworkPool(n, s.Host.Path, refillInBackground: false, bridgeIndex: br))
            {
                var fill = Stopwatch.StartNew();
                pool.Fill();
                fillPerEntry = fill.Elapsed.TotalMilliseconds / n;
                for (int i = 0; i < n; i++)
                {
                    var spec = Spec(s, br, i);
                    var sw = Stopwatch.StartNew();
                    var t = pool.Prepare(nl, spec);
                    pooled.Add(sw.Elapsed.TotalMilliseconds, t);
                    made.Add(spec);
                    if (!t.Pooled) throw new InvalidOperationException("a filled pool fell back");
                }
            }
            RemoveAll();

            Console.Error.WriteLine($"net setup: {n} set-ups 5 ms apart from a pool of 8 for the bridge, refilled in the background");
            using (var pool = new ReplicaNetworkPool(8, s.Host.Path, bridgeIndex: br))
            {
                var until = DateTime.UtcNow.AddSeconds(30);
                while (pool.Available < 8 && DateTime.UtcNow < until) Thread.Sleep(10);
                for (int i = 0; i < n; i++)
                {
                    var spec = Spec(s, br, i);
                    var sw = Stopwatch.StartNew();
                    var t = pool.Prepare(nl, spec);
                    paced.Add(sw.Elapsed.TotalMilliseconds, t);
                    made.Add(spec);
                    Thread.Sleep(5);
                }
                pacedHits = pool.Claimed;
            }
            RemoveAll();
        }
        finally
        {
            foreach (var m in made) ReplicaNetwork.Remove(nl, m.NetnsPath, m.HostVeth);
            ClusterBridge.Remove(nl, "tynb");
        }
        string[] coldNames = ["namespace", "veth", "configure"], poolNames = ["bind mount", "adopt veth", "address+route"];
        Console.WriteLine($"Replica network set-up (netns + veth + address + route), load {loadBefore} → {Load()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine("| path | runs | median ms | p99 ms | min ms | phases (median ms) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---|");
        Console.WriteLine(cold.Line("cold (`ReplicaNetwork.Prepare`)", coldNames));
        Console.WriteLine(unbridged.Line("pooled, pool on no bridge, filled ahead", poolNames));
        Console.WriteLine(pooled.Line("pooled, filled ahead (`ReplicaNetworkPool.Prepare`, pool for the bridge)", poolNames));
        Console.WriteLine(paced.Line($"pool of 8 for the bridge, background refill, 5 ms apart ({pacedHits}/{n} from the pool)", poolNames));
        Console.WriteLine();
        Console.WriteLine($"Pool refill, per namespace (off the start path): {Ms(fillPerEntry)} ms; removal per replica: {Stats(removal)}.");
        return 0;
    }

    private static (long MemAvailKb, long SlabKb, long PercpuKb) Meminfo()
    {
        long Get(string[] lines, string key) =>
            long.Parse(lines.First(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var l = File.ReadAllLines("/proc/meminfo");
        return (Get(l, "MemAvailable"), Get(l, "Slab"), Get(l, "Percpu"));
    }

    private static int Scale(int n)
    {
        if (n is < 2 or > 2000) throw new ArgumentOutOfRangeException(nameof(n), "2..2000 replicas (a /21)");
        using var s = new Scratch();
        var nl = s.Host.Netlink;
        var made = new List<ReplicaNetworkSpec>();
        var times = new Phases();
        List<double> fromPool = [], cold = [];
        string loadBefore = Load();
        double wall, removeWall;
        int withAddress = 0;
        (long MemAvailKb, long SlabKb, long PercpuKb) before, after;
        long rssBefore, rssAfter;
        bool tcp;
        try
        {
            int br = ClusterBridge.Ensure(nl, "tyns", IPAddress.Parse("10.71.0.1"), 21);
            ReplicaNetworkSpec SpecAt(int i) =>
                new(s.P($"s{i}"), VethName.For($"scale-{i}"), br, IPAddress.Parse($"10.71.{(i + 2) / 256}.{(i + 2) % 256}"), 21, IPAddress.Parse("10.71.0.1"));
            GC.Collect();
            before = Meminfo();
            rssBefore = Environment.WorkingSet / 1024;
            // The node's way: a pool refilled in the background, set-ups as fast as they come (no pacing: a worst case
            // for the pool, whose refill competes with the set-ups for the same rtnl lock).
            Console.Error.WriteLine($"net scale: {n} replicas on one bridge");
            var all = Stopwatch.StartNew();
            using (var pool = new ReplicaNetworkPool(16, s.Host.Path, bridgeIndex: br))
            {
                for (int i = 0; i < n; i++)
                {
                    var spec = SpecAt(i);
                    var sw = Stopwatch.StartNew();
                    var t = pool.Prepare(nl, spec);
                    times.Add(sw.Elapsed.TotalMilliseconds, t);
                    (t.Pooled ? fromPool : cold).Add(sw.Elapsed.TotalMilliseconds);
                    made.Add(spec);
                }
                wall = all.Elapsed.TotalSeconds;
                Console.Error.WriteLine($"net scale: {pool.Claimed} from the pool, {pool.FellBack} cold");
            }
            GC.Collect();
            Thread.Sleep(1000); // let the pool's deleted leftovers go
            after = Meminfo();
            rssAfter = Environment.WorkingSet / 1024;
            Console.Error.WriteLine("net scale: checking addresses");
            foreach (var m in made)
            {
                using var r = NetworkNamespace.Open(m.NetnsPath);
                if (r.Netlink.ListAddresses().Any(a => a.Address.Equals(m.Address))) withAddress++;
            }
            int ports = nl.ListLinks().Count(l => l.Master == br && l.Up);
            if (ports != n) throw new InvalidOperationException($"{ports} veths up on the bridge, expected {n}");
            using (var first = NetworkNamespace.Open(made[0].NetnsPath))
            using (var last = NetworkNamespace.Open(made[^1].NetnsPath))
            using (var listener = last.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            using (var client = first.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                listener.Bind(new IPEndPoint(made[^1].Address, 0));
                listener.Listen(1);
                var ar = client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
                tcp = ar.Wait(10_000);
            }
            Console.Error.WriteLine("net scale: removing");
            var rm = Stopwatch.StartNew();
            foreach (var m in made) ReplicaNetwork.Remove(nl, m.NetnsPath, m.HostVeth);
            made.Clear();
            removeWall = rm.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var m in made) ReplicaNetwork.Remove(nl, m.NetnsPath, m.HostVeth);
            ClusterBridge.Remove(nl, "tyns");
        }
        double perReplicaKb = (before.MemAvailKb - after.MemAvailKb) / (double)n;
        Console.WriteLine($"{n} replicas on one cluster bridge (/21), load {loadBefore} → {Load()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine($"- all set up in {wall.ToString("F2", CultureInfo.InvariantCulture)} s, back to back from a pool of 16 refilled in the background; per replica {Stats(times.Total)}");
        Console.WriteLine($"- of which from the pool: {fromPool.Count}, {(fromPool.Count > 0 ? Stats(fromPool) : "none")}; made on the spot (pool empty): {cold.Count}, {(cold.Count > 0 ? Stats(cold) : "none")}");
        Console.WriteLine($"- with their address: {withAddress}/{n}; veths up on the bridge: {n}/{n}; replica 1 → replica {n} over TCP: {(tcp ? "connected" : "FAILED")}");
        long kernelKb = after.SlabKb - before.SlabKb + after.PercpuKb - before.PercpuKb;
        // MemAvailable also moves with every other job's page cache: printed, but slab + per-cpu is the figure to quote.
        Console.WriteLine($"- kernel memory held: Slab {after.SlabKb - before.SlabKb:+#;-#;0} KiB + Percpu {after.PercpuKb - before.PercpuKb:+#;-#;0} KiB = "
            + $"{(kernelKb / (double)n).ToString("F0", CultureInfo.InvariantCulture)} KiB per replica (MemAvailable Δ {-(before.MemAvailKb - after.MemAvailKb) / 1024:+#;-#;0} MiB, "
            + $"{perReplicaKb.ToString("F0", CultureInfo.InvariantCulture)} KiB per replica, noisy); this process's RSS {rssBefore / 1024} → {rssAfter / 1024} MiB");
        Console.WriteLine($"- removal of all: {removeWall.ToString("F2", CultureInfo.InvariantCulture)} s");
        return withAddress == n && tcp ? 0 : 1;
    }

    private static readonly string[] PairNames = ["a", "b"];

    private static int PairUp(string dir)
    {
        var s = new Scratch(dir);
        var nl = s.Host.Netlink;
        try
        {
            int br = ClusterBridge.Ensure(nl, "tynp", IPAddress.Parse("10.79.0.1"), 24);
            for (int i = 0; i < 2; i++)
                ReplicaNetwork.Prepare(nl, new ReplicaNetworkSpec(s.P(PairNames[i]), VethName.For($"pair-{i}"), br,
                    IPAddress.Parse($"10.79.0.{i + 2}"), 24, IPAddress.Parse("10.79.0.1")));
            s.Host.Dispose();
            return 0;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private static int PairDown(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        // Everything lives in DIR/host (bridge, host ends): removing the namespace files is the whole teardown.
        foreach (var f in Directory.GetFiles(dir)) NetworkNamespace.Remove(f);
        Directory.Delete(dir, true);
        return 0;
    }
}
