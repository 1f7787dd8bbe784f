using BenchmarkDotNet.Running;
using Tinyo.Bench.Env;
using Tinyo.Bench.Kv;
using Tinyo.Bench.Net;
using Tinyo.Bench.Scale;

// Benchmarks compare Tinyo against the real peer in the same run; see docs/benchmarks.md.
//   Tinyo.Bench [BenchmarkDotNet args, e.g. --filter '*Start*']   the BenchmarkDotNet suites (Pull, Unpack, Start, InNodeStart)
//   Tinyo.Bench scale [COUNT] [CONCURRENCY]                          COUNT detached containers at once, tinyort vs crun
//   Tinyo.Bench innode [N]                                           an in-node start's phases (StartSpans), the bundle path, the C floor
//   Tinyo.Bench kv [--runs N] [--seconds S]                          3-member tinyokv vs 3-member etcd (puts, gets, RSS, disk)
//   Tinyo.Bench net setup|scale [N] | net pair up|down DIR          cluster-network set-up, 1000 on a bridge, a pair for iperf3
//   Tinyo.Bench sizes                                                the four binaries' sizes (markdown)
//   Tinyo.Bench mstat FILE.mstat [DEPTH]                             what a binary is made of, by assembly/namespace (docs/benchmarks.md § 4)
//   Tinyo.Bench sockmap CGROUP2_DIR SUBNET                           holds the eBPF TCP shortcut for bench/direct.sh
if (args is ["scale", ..])
    return ScaleRunner.Run(args[1..]);
if (args is ["innode", ..])
    return InNodeSpans.Run(args[1..]);
if (args is ["kv", ..])
    return KvRunner.Run(args[1..]);
if (args is ["net", ..])
    return NetRunner.Run(args[1..]);
if (args is ["mstat", var mstat, .. var rest])
{
    Console.Out.Write(Mstat.Report(mstat, rest is [var d] ? int.Parse(d, System.Globalization.CultureInfo.InvariantCulture) : 2));
    return 0;
}
if (args is ["sockmap", ..])
    return Tinyo.Bench.Direct.ShortcutHold.Run(args[1..]);
if (args is ["sizes"])
{
    Console.Out.Write(Sizes.Markdown());
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
return 0;
