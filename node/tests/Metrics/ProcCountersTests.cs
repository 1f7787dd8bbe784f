using Tinyo.Node.Metrics;
using Tinyo.Rt.Cgroups;

namespace Tinyo.Node.Tests.Metrics;

public sealed class ProcCountersTests
{
    [Fact]
    public void Net_dev_gives_receive_and_transmit_bytes_per_device()
    {
        const string text = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
            tv0123456789ab: 5000 10 0 0 0 0 0 0 7000 12 0 0 0 0 0 0
              eth0: 1 2 3
            """;
        var d = NetDevCounters.Parse(text);
        Assert.Equal(2, d.Count); // the header lines and the short line are skipped
        Assert.Equal((123456L, 123456L), d["lo"]);
        Assert.Equal((5000L, 7000L), d["tv0123456789ab"]);
    }

    [Fact]
    public void The_real_net_dev_has_loopback()
        => Assert.True(NetDevCounters.Read().ContainsKey("lo"));

    [Theory]
    [InlineData("42 (sh) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 100 1000 10", 13)]
    // The command name is the process's own: spaces and parentheses must not shift the fields.
    [InlineData("42 (a) b (c) ) S 1 42 42 0 -1 4194560 100 0 0 0 50 25 0 0 20 0 1 0 100 1000 10", 75)]
    [InlineData("no parenthesis here", 0)]
    [InlineData("1 (x) S 1 2", 0)]
    [InlineData("1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 0 0 0 20", 0)]
    public void Proc_stat_cpu_ticks_are_counted_after_the_last_parenthesis(string stat, long ticks)
        => Assert.Equal(ticks, Cgroup.StatCpuTicks(stat));

    [Fact]
    public void This_process_has_used_some_cpu()
        => Assert.True(Cgroup.StatCpuTicks(File.ReadAllText("/proc/self/stat")) > 0);
}
