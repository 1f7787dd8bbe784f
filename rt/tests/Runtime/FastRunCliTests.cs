using System.Diagnostics;
using System.Text.Json;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The hand-parsed <c>run --bundle B ID</c> fast path of the CLI against the full System.CommandLine parser (an
/// extra, accepted runc flag such as <c>--debug</c> forces the latter), and the hand-written state record.
/// </summary>
[Collection("containers")]
public sealed class FastRunCliTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args, withRoot: false);

    [Fact]
    public void FastAndFullParserRunTheSame()
    {
        using var b = new TestBundle("sh", "-c", "echo out $0; echo err >&2; exit 5");
        var dir = b.Write();
        var fast = Cli("--root", _h.Root.Path, "run", "--bundle", dir, ContainerHarness.NewId("f"));
        var full = Cli("--root", _h.Root.Path, "--debug", "run", "--bundle", dir, ContainerHarness.NewId("p"));
        Assert.Equal((5, "out sh\n", "err\n"), fast);
        Assert.Equal(full, fast);
        // Errors: one line, exit status 1, on both.
        var badFast = Cli("--root", _h.Root.Path, "run", "-b", dir, "bad/id");
        var badFull = Cli("--root", _h.Root.Path, "--debug", "run", "-b", dir, "bad/id");
        Assert.Equal(1, badFast.Code);
        Assert.StartsWith("tinyort: invalid container id \"bad/id\"", badFast.Err);
        Assert.Equal(badFull, badFast);
        Assert.Empty(Directory.GetDirectories(_h.Root.Containers));
    }

    [Fact]
    public void DetachedRunWritesThePidFileAndTheContainerRuns()
    {
        using var b = new TestBundle("sleep", "30");
        var id = ContainerHarness.NewId("d");
        _h.Track(id);
        var pidFile = Path.Combine(_h.Root.Path, "pid");
        var (code, _, err) = Cli("--root", _h.Root.Path, "run", "--detach", "--pid-file", pidFile, "--bundle", b.Write(), id);
        Assert.True(code == 0, err);
        int pid = int.Parse(File.ReadAllText(pidFile));
        Assert.Contains("sleep", File.ReadAllText($"/proc/{pid}/cmdline"));
        var (_, state, _) = Cli("--root", _h.Root.Path, "state", id);
        using (var doc = JsonDocument.Parse(state))
        {
            Assert.Equal("running", doc.RootElement.GetProperty("status").GetString());
            Assert.Equal(pid, doc.RootElement.GetProperty("pid").GetInt32());
        }
        Assert.Equal(0, Cli("--root", _h.Root.Path, "delete", "--force", id).Code);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void HandWrittenRecordReadsBackAsTheSerializerWritesIt()
    {
        var rec = new ContainerRecord
        {
            Id = "x", Bundle = "/b \"q\"", Rootfs = "/r", Pid = 42, PidStartTime = 123456789012, Created = "2026-11-28T16:00:00.000000000Z",
            Annotations = new() { ["a"] = "1", ["ü"] = "\n" }, CgroupDirs = ["/sys/fs/cgroup/memory/tinyo/x", "/sys/fs/cgroup/pids/tinyo/x"],
            CgroupV2 = false, ExitCode = 3, ExitSignal = 0, OomKilled = true,
        };
        var mine = rec.ToJson();
        var theirs = JsonSerializer.SerializeToUtf8Bytes(rec, OciJson.Default.ContainerRecord);
        Assert.Equal(Canon(theirs), Canon(mine));
        var back = JsonSerializer.Deserialize(mine, OciJson.Default.ContainerRecord)!;
        Assert.Equal(rec.Annotations, back.Annotations);
        Assert.Equal(rec.CgroupDirs, back.CgroupDirs);
        Assert.Equal((42, 123456789012UL, 3, true), (back.Pid, back.PidStartTime, back.ExitCode!.Value, back.OomKilled!.Value));
        rec.Annotations = null;
        rec.ExitCode = null; rec.ExitSignal = null; rec.OomKilled = null;
        Assert.Equal(Canon(JsonSerializer.SerializeToUtf8Bytes(rec, OciJson.Default.ContainerRecord)), Canon(rec.ToJson()));
    }

    /// <summary>The document re-written compactly: equal strings mean equal members, values and order.</summary>
    private static string Canon(byte[] json)
    {
        using var doc = JsonDocument.Parse(json);
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf)) doc.RootElement.WriteTo(w);
        return System.Text.Encoding.UTF8.GetString(buf.WrittenSpan);
    }
}
