using System.Diagnostics;
using System.Text;
using Tinyo.Api.Statefile;
using SF = Tinyo.Api.Statefile.Statefile;

namespace Tinyo.Ctl.Tests;

/// <summary>The statefile's limits and the validation a hostile-user probe found missing (issue 10, item 7).</summary>
public sealed class StatefileLimitsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tio-sf-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static StatefileException Fails(string yaml, string file = "app.yml")
        => Assert.Throws<StatefileException>(() => SF.Parse(yaml, file));

    /// <summary>The probe's file: one 100 KB anchored scalar repeated 1,000 times in command (103 KB, 100 MB expanded).</summary>
    public static string AliasMultiplier(int scalarBytes = 100_000, int uses = 1000)
    {
        var b = new StringBuilder("container: alpine\nentrypoint: [&big ").Append('a', scalarBytes).Append("]\ncommand: [");
        for (var i = 0; i < uses; i++) b.Append(i == 0 ? "*big" : ", *big");
        return b.Append("]\n").ToString();
    }

    [Fact]
    public void AnAliasRepeatedPastTheSizeLimitIsRefusedWithItsPosition()
    {
        var yaml = AliasMultiplier();
        Assert.True(yaml.Length < 110_000);
        var e = Fails(yaml);
        Assert.Contains("expands to more than 1 MiB", e.Message);
        Assert.True(e.Line is 2 or 3 && e.Column > 1, e.Message); // the anchored scalar (an alias is that node)
        // Below the limit the same shape is fine: aliases themselves are allowed.
        var ok = Assert.Single(SF.Parse(AliasMultiplier(1000, 100), "app.yml"));
        Assert.Equal(100, ok.Command!.Count);
    }

    [Fact]
    public void ManyDocumentsCannotAddUpPastTheSizeLimit()
    {
        // Each document expands to 600 KB (under the limit alone); two of them pass it.
        var doc = AliasMultiplier(60_000, 10);
        var e = Fails("name: a\n" + doc + "---\nname: b\n" + doc);
        Assert.Contains("expands to more than 1 MiB", e.Message);
    }

    [Theory]
    [InlineData("container: \"../../etc/passwd\"\n", "'../../etc/passwd' is not a valid image reference")]
    [InlineData("container: \"alpine/../../x\"\n", "invalid path component '..'")]
    [InlineData("container: \"Alpine\"\n", "invalid path component 'Alpine'")]
    [InlineData("container: \"alpine:-x\"\n", "invalid tag")]
    [InlineData("container: \"alpine@sha256:12\"\n", "invalid digest")]
    [InlineData("container: \"bad_host.io:99999999/x\"\n", "invalid registry host")]
    public void ImageReferencesFollowTheDistributionGrammar(string yaml, string problem)
    {
        var e = Fails(yaml);
        Assert.Equal((1L, "container"), (e.Line, e.Field));
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("alpine")]
    [InlineData("alpine:3.20")]
    [InlineData("library/alpine:latest")]
    [InlineData("127.0.0.1:5000/busybox")]
    [InlineData("localhost/my-app_x__y.z:v1")]
    [InlineData("ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void ValidImageReferencesPass(string image)
        => Assert.Equal(image, Assert.Single(SF.Parse($"container: \"{image}\"\n", "app.yml")).Image);

    [Theory]
    [InlineData("container: alpine\ncommand: \"sh\\0 -c x\"\n", "command", 2L)]
    [InlineData("container: alpine\ncommand: [sh, \"a\\0b\"]\n", "command[1]", 2L)]
    [InlineData("container: alpine\nenv:\n  A: \"x\\0y\"\n", "env.A", 3L)]
    [InlineData("container: alpine\nenv: [\"A=x\\0y\"]\n", "env[0]", 2L)]
    [InlineData("container: alpine\nentrypoint: \"\\0\"\n", "entrypoint", 2L)]
    [InlineData("container: alpine\nhealthcheck: {command: \"true\\0\"}\n", "healthcheck.command", 2L)]
    public void NulBytesAreRefusedWithTheirPosition(string yaml, string field, long line)
    {
        var e = Fails(yaml);
        Assert.Equal((line, field), (e.Line, e.Field));
        Assert.Contains("contains a NUL byte", e.Message);
    }

    [Fact]
    public void ControlCharactersInEchoedInputAreEscaped()
    {
        var e = Fails("name: \"a\\e[2Jb\"\ncontainer: alpine\n");
        Assert.DoesNotContain('\x1b', e.Message);
        Assert.Contains("a\\x1b[2Jb", e.Message);
        var f = Fails("container: \"x\\u202eevil\\r\\n\"\n", "t\x07.yml");
        Assert.All(f.Message, c => Assert.False(Printable.Unsafe(c)));
        Assert.StartsWith("t\\x07.yml:1:", f.Message);
        Assert.Equal("plain text: keep", Printable.Escape("plain text: keep"));
        Assert.Equal("\\x9b\\x7f\\u2028", Printable.Escape("\u009b\u007f\u2028"));
    }

    [Fact]
    public void ReadFileRefusesDevicesAndFifosAndReadsAtMostTheCap()
    {
        var sw = Stopwatch.StartNew();
        Assert.Contains("not a regular file", Assert.Throws<StatefileException>(() => SF.ReadFile("/dev/zero")).Message);
        var fifo = Path.Combine(dir, "pipe.yml");
        using (var p = Process.Start("mkfifo", [fifo])) p.WaitForExit();
        Assert.True(File.Exists(fifo), "mkfifo failed");
        Assert.Contains("not a regular file", Assert.Throws<StatefileException>(() => SF.ReadFile(fifo)).Message); // no writer: an open would hang
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Contains("no such file", Assert.Throws<StatefileException>(() => SF.ReadFile(Path.Combine(dir, "nope.yml"))).Message);
        Assert.Contains("is a directory", Assert.Throws<StatefileException>(() => SF.ReadFile(dir)).Message);

        var big = Path.Combine(dir, "big.yml");
        File.WriteAllBytes(big, new byte[SF.MaxBytes + 1]);
        Assert.Contains("larger than 1 MiB", Assert.Throws<StatefileException>(() => SF.ReadFile(big)).Message);
        var fits = Path.Combine(dir, "fits.yml");
        File.WriteAllText(fits, "container: alpine\n");
        Assert.Equal("container: alpine\n", SF.ReadFile(fits));

        // A stream that never ends (stdin from /dev/zero) is read only up to the cap + 1 byte, then refused.
        var endless = new EndlessStream();
        Assert.Contains("larger than 1 MiB", Assert.Throws<StatefileException>(() => SF.ReadCapped(endless, "stdin.yml")).Message);
        Assert.Equal(SF.MaxBytes + 1, endless.Served);
    }

    private sealed class EndlessStream : Stream
    {
        public long Served { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Served; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Clear(buffer, offset, count);
            Served += count;
            return count;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
