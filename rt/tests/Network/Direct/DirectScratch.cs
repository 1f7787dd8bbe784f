using System.Diagnostics;
using System.Net;
using Tinyo.Rt.Network;

namespace Tinyo.Rt.Tests.Network.Direct;

/// <summary>
/// Two replica namespaces (A 10.88.0.2, B 10.88.0.3) on one cluster bridge inside the test's own host namespace, two
/// cgroup v2 directories standing for two clusters' cgroups, and the traffic tool (bench/direct/dnet.c, built with
/// gcc once per run). Dispose kills the processes it started (by PID), removes the cgroups, namespaces and veths.
/// </summary>
public sealed class DirectScratch : IDisposable
{
    private readonly NetnsScratch net = new();
    private readonly List<Process> started = [];

    /// <summary>The cgroup v2 mount of this host (the unified mount on a hybrid host), or null.</summary>
    public static string? Cgroup2Root { get; } = FindCgroup2();

    /// <summary>Why the shortcut tests cannot run here, or null.</summary>
    public static string? Missing =>
        Environment.UserName != "root" ? "needs root (namespaces, cgroups, bpf)" :
        Cgroup2Root is null ? "no cgroup v2 mount on this host" :
        !File.Exists("/usr/bin/nsenter") ? "needs nsenter (util-linux)" : null;

    public DirectScratch()
    {
        try
        {
            int br = ClusterBridge.Ensure(net.Host.Netlink, "tyd0", IPAddress.Parse("10.88.0.1"), 24);
            ReplicaNetwork.Prepare(net.Host.Netlink, new ReplicaNetworkSpec(net.PathOf("a"), "tva", br, IPAddress.Parse("10.88.0.2"), 24, IPAddress.Parse("10.88.0.1")));
            ReplicaNetwork.Prepare(net.Host.Netlink, new ReplicaNetworkSpec(net.PathOf("b"), "tvb", br, IPAddress.Parse("10.88.0.3"), 24, IPAddress.Parse("10.88.0.1")));
            Parent = Path.Combine(Cgroup2Root!, "tinyo-test-direct-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Cluster1 = Path.Combine(Parent, "cluster1"));
            Directory.CreateDirectory(Cluster2 = Path.Combine(Parent, "cluster2"));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Parent { get; } = "";
    public string Cluster1 { get; } = "";
    public string Cluster2 { get; } = "";
    public string NsA => net.PathOf("a");
    public string NsB => net.PathOf("b");
    public const string AddressB = "10.88.0.3";

    /// <summary>The dnet binary, built once per test run.</summary>
    public static string Dnet => dnet.Value;
    private static readonly Lazy<string> dnet = new(() =>
    {
        var source = Path.Combine(AppContext.BaseDirectory, "Network", "dnet.c");
        var output = Path.Combine(Path.GetTempPath(), $"tinyo-dnet-{Environment.ProcessId}");
        var psi = new ProcessStartInfo("gcc", ["-O2", "-pthread", "-o", output, source]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"building dnet failed: {err}");
        // One binary per test process: gone with the process (it was left in /tmp by every run).
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(output);
        return output;
    });

    /// <summary>Starts dnet with <paramref name="args"/> as a process of cgroup <paramref name="cgroup"/> inside the
    /// namespace <paramref name="netns"/> (it joins the cgroup before it creates any socket).</summary>
    public Process Start(string cgroup, string netns, string args)
    {
        var psi = new ProcessStartInfo("sh", ["-c", $"echo $$ > '{cgroup}/cgroup.procs' && exec nsenter --net='{netns}' '{Dnet}' {args}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        var p = Process.Start(psi)!;
        started.Add(p);
        return p;
    }

    /// <summary>Starts a server and waits for its "ready".</summary>
    public Process Serve(string cgroup, string netns, string args)
    {
        var p = Start(cgroup, netns, args);
        var line = p.StandardOutput.ReadLine();
        if (line != "ready") Assert.Fail($"dnet {args} did not start: {line} {p.StandardError.ReadToEnd()}");
        return p;
    }

    /// <summary>Runs dnet to the end and returns its output (asserting success).</summary>
    public string Run(string cgroup, string netns, string args)
    {
        var p = Start(cgroup, netns, args);
        var output = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), $"dnet {args} did not finish");
        Assert.True(p.ExitCode == 0, $"dnet {args} failed ({p.ExitCode}): {err.Result}");
        return output.Result.Trim();
    }

    /// <summary>Bytes received by eth0 of the namespace at <paramref name="netns"/> (its veth's rx counter).</summary>
    public static long RxBytes(string netns)
    {
        using var ns = NetworkNamespace.Open(netns);
        var dev = NetnsThread.RunIn(ns.Fd, () => File.ReadAllLines("/proc/thread-self/net/dev"));
        foreach (var line in dev)
        {
            var t = line.Trim();
            if (t.StartsWith("eth0:", StringComparison.Ordinal))
                return long.Parse(t[5..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        throw new InvalidOperationException($"no eth0 in {netns}");
    }

    public void Dispose()
    {
        foreach (var p in started)
        {
            try { if (!p.HasExited) p.Kill(); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        ReplicaNetwork.Remove(net.Host.Netlink, NsA, "tva");
        ReplicaNetwork.Remove(net.Host.Netlink, NsB, "tvb");
        net.Dispose();
        foreach (var dir in new[] { Cluster1, Cluster2, Parent })
            if (dir.Length > 0 && Directory.Exists(dir)) Directory.Delete(dir);
    }

    private static string? FindCgroup2()
    {
        foreach (var line in File.ReadAllLines("/proc/self/mounts"))
        {
            var f = line.Split(' ');
            if (f.Length > 2 && f[2] == "cgroup2") return f[1];
        }
        return null;
    }
}
