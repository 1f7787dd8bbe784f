using Tinyo.Linux;

namespace Tinyo.Linux.Tests;

/// <summary>The idle trim in this (JIT) test process: its images are libcoreclr, the JIT and the framework's dlls.</summary>
public class IdleTrimTests
{
    private static long RssKiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Replace(" kB", ""));
        throw new InvalidOperationException("no VmRSS");
    }

    [Fact]
    public void Trim_releases_image_pages_and_loses_nothing()
    {
        // Private data (heap) and an image-backed read of code: both must be intact after the trim.
        var data = new byte[4 << 20];
        for (var i = 0; i < data.Length; i++) data[i] = (byte)(i * 7);
        var text = string.Join(',', Enumerable.Range(0, 100)); // runs framework code (image pages) before and after
        using var trim = new IdleTrim(TimeSpan.FromHours(1));
        var before = RssKiB();
        trim.Trim();
        var after = RssKiB();
        Assert.Equal(1, trim.Trims);
        Assert.True(before - after >= 1024, $"RSS {before} → {after} KiB: less than 1 MiB released");
        for (var i = 0; i < data.Length; i++)
            if (data[i] != (byte)(i * 7)) Assert.Fail($"byte {i} changed by the trim");
        Assert.Equal(text, string.Join(',', Enumerable.Range(0, 100)));
        GC.KeepAlive(data);
    }

    [Fact]
    public async Task Trims_by_itself_once_quiet_after_start()
    {
        // Every period counts as quiet here (other tests allocate in this process meanwhile); start-up is work.
        using var trim = new IdleTrim(TimeSpan.FromSeconds(1), null, long.MaxValue);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (trim.Trims == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(trim.Trims >= 1, "no trim within 20 s of quiet");
    }

    [Fact]
    public void Rejects_a_quiet_time_under_a_second()
        => Assert.Throws<ArgumentOutOfRangeException>(() => new IdleTrim(TimeSpan.FromMilliseconds(500)));
}
