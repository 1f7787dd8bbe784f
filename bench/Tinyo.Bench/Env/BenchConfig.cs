using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Env;

/// <summary>
/// One job for every suite: the code under test is external processes (the NativeAOT binaries and their peers), so
/// the host runs in-process on the JIT, one invocation per iteration (Monitoring: no pilot, no unrolling, each
/// iteration is one cold command), few warm-ups, and medians with the peer as the baseline.
/// </summary>
public static class BenchConfig
{
    public static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("BENCH_ITERATIONS"), out var n) && n > 0 ? n : 15;

    public static IConfig Create()
    {
        var job = Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(Iterations)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("Monitoring");
        return ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max)
            .AddColumn(ThroughputColumn.Instance)
            .WithArtifactsPath(Path.Combine(TestPaths.RepoRoot, "artifacts", "bench", "BenchmarkDotNet.Artifacts"))
            .WithOptions(ConfigOptions.DisableLogFile);
    }
}
