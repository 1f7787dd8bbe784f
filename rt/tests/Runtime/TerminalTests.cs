using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary><c>process.terminal</c> with runc's <c>--console-socket</c> protocol, received by a small listener here
/// as containerd's or conmon's would.</summary>
[Collection("containers")]
public sealed class TerminalTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args);

    private static TestBundle TtyBundle(string script)
    {
        var b = new TestBundle("sh", "-c", script);
        foreach (var a in new[] { "tty", "stty" }) File.CreateSymbolicLink(Path.Combine(b.Rootfs, "bin", a), "busybox");
        b.Spec.Process!.Terminal = true;
        return b;
    }

    /// <summary>Reads a pty master until the slave side is closed by everyone (EIO) or the timeout.</summary>
    private static unsafe string ReadAll(int master, int timeoutMs = 20_000)
    {
        var sb = new StringBuilder();
        var sw = Stopwatch.StartNew();
        var buf = new byte[4096];
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            var pfd = new PollFd { Fd = master, Events = POLLIN };
            if (SysPoll(&pfd, 1, 200) <= 0) continue;
            int n = SysReadRetry(master, buf);
            if (n <= 0) break;
            sb.Append(Encoding.UTF8.GetString(buf, 0, n));
        }
        return sb.ToString();
    }

    [Fact]
    public void ConsoleSocket_GetsPtyMaster_ProcessHasControllingTerminal()
    {
        using var b = TtyBundle("tty; stty size; exec 3</dev/tty && echo ctty-ok; id -u; echo done");
        b.Spec.Process!.ConsoleSize = new Oci.SpecConsoleSize { Height = 30, Width = 100 };
        b.Spec.Process.User = new Oci.SpecUser { Uid = 1000, Gid = 1000 };
        var id = ContainerHarness.NewId("tty");
        _h.Track(id);
        var sockPath = Path.Combine(_h.Root.Path, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(sockPath));
        listener.Listen(1);
        (int Fd, string Name) got = (-1, "");
        var receiver = new Thread(() =>
        {
            using var conn = listener.Accept();
            int fd = Terminal.ReceiveFd((int)conn.Handle, out var payload);
            got = (fd, payload);
        });
        receiver.Start();

        var (code, _, err) = Cli("create", "--bundle", b.Write(), "--console-socket", sockPath, id);
        Assert.True(code == 0, err);
        Assert.True(receiver.Join(10_000), "no pty arrived on the console socket");
        var (master, name) = got;
        try
        {
            Assert.Equal("/dev/ptmx", name);
            Assert.Equal(0, Cli("start", id).Code);
            var output = ReadAll(master);
            // The pty belongs to the container's own devpts instance (numbered from 0), output goes through the line
            // discipline (\r\n), the size was applied, /dev/tty opens (a controlling terminal) and the user owns it.
            Assert.Equal("/dev/pts/0\r\n30 100\r\nctty-ok\r\n1000\r\ndone\r\n", output);
        }
        finally { SysClose(master); }
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 10_000)
        {
            var (_, state, _) = Cli("state", id);
            using var doc = JsonDocument.Parse(state);
            if (doc.RootElement.GetProperty("status").GetString() == "stopped") break;
            Thread.Sleep(50);
        }
        Assert.Equal(0, Cli("delete", id).Code);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void Terminal_WithoutSocket_Or_SocketWithoutTerminal_FailsCleanly()
    {
        using (var b = TtyBundle("true"))
        {
            var id = ContainerHarness.NewId("tty");
            var (code, _, err) = Cli("create", "--bundle", b.Write(), id);
            Assert.Equal(1, code);
            Assert.Contains("--console-socket is required", err);
            _h.AssertGone(id, b);
            // A socket nobody listens on: the error names it, nothing is created.
            (code, _, err) = Cli("create", "--bundle", b.Dir, "--console-socket", Path.Combine(_h.Root.Path, "nobody.sock"), id);
            Assert.Equal(1, code);
            Assert.Contains("console socket", err);
            _h.AssertGone(id, b);
        }
        using (var b = new TestBundle("true"))
        {
            var id = ContainerHarness.NewId("tty");
            var (code, _, err) = Cli("create", "--bundle", b.Write(), "--console-socket", "/tmp/x.sock", id);
            Assert.Equal(1, code);
            Assert.Contains("process.terminal", err);
            _h.AssertGone(id, b);
        }
    }

    [Fact]
    public void OciRun_Foreground_ProxiesThroughPty()
    {
        using var b = TtyBundle("tty; echo out; exit 7");
        var id = ContainerHarness.NewId("tty");
        _h.Track(id);
        var (code, o, err) = Cli("run", "--bundle", b.Write(), id);
        Assert.True(code == 7, err);
        Assert.Equal("/dev/pts/0\r\nout\r\n", o);
        _h.AssertGone(id, b);
    }
}
