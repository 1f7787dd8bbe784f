using BenchmarkDotNet.Running;
using Tinyo.Bench.Env;
using Tinyo.Bench.Kv;
using Tinyo.Bench.Scale;

// Benchmarks compare Tinyo against the real peer in the same run; see docs/benchmarks.md.
//   Tinyo.Bench [BenchmarkDotNet args, e.g. --filter '*Start*']   the BenchmarkDotNet suites (Pull, Unpack, Start)
//   Tinyo.Bench scale [COUNT] [CONCURRENCY]                          COUNT detached containers at once, tinyort vs crun
//   Tinyo.Bench kv [--runs N] [--seconds S]                          3-member tinyokv vs 3-member etcd (puts, gets, RSS, disk)
//   Tinyo.Bench sizes                                                the four binaries' sizes (markdown)
//   Tinyo.Bench sockmap CGROUP2_DIR SUBNET                           holds the eBPF TCP shortcut for bench/direct.sh
if (args is ["scale", ..])
    return ScaleRunner.Run(args[1..]);
if (args is ["kv", ..])
    return KvRunner.Run(args[1..]);
if (args is ["sockmap", ..])
    return Tinyo.Bench.Direct.ShortcutHold.Run(args[1..]);
if (args is ["sizes"])
{
    Console.Out.Write(Sizes.Markdown());
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
return 0;
