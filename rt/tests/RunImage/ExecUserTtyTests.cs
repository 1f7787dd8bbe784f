namespace Tinyo.Rt.Tests.RunImage;

/// <summary><c>exec -u/-e/-w/-t</c> and <c>run -t</c> on image containers.</summary>
[Collection("containers")]
public sealed class ExecUserTtyTests : IDisposable
{
    private readonly ImageRoot _r = new();

    public void Dispose() => _r.Dispose();

    private string StartSleeper(string name)
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", name, "busybox", "sleep", "60");
        Assert.True(code == 0, e);
        var end = Environment.TickCount64 + 5000;
        while (_r.Cli("exec", name, "true").Code != 0)
        {
            if (Environment.TickCount64 > end) Assert.Fail("container did not come up");
            Thread.Sleep(50);
        }
        return o.Trim();
    }

    [Fact]
    public void Exec_User_ByNameNumberAndGroup_DropsCapabilities()
    {
        var id = StartSleeper("xu");
        var (code, o, e) = _r.Cli("exec", "-u", "nobody", "xu", "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status");
        Assert.True(code == 0, e);
        Assert.Equal("65534\n65534\nCapEff:\t0000000000000000\n", o);
        (code, o, e) = _r.Cli("exec", "-u", "1234:5678", "-e", "X=y", "-w", "/tmp", "xu", "sh", "-c", "id -u; id -g; echo $X; pwd");
        Assert.True(code == 0, e);
        Assert.Equal("1234\n5678\ny\n/tmp\n", o);
        (code, o, e) = _r.Cli("exec", "-u", "0:nogroup", "xu", "sh", "-c", "id -u; id -g");
        Assert.True(code == 0, e);
        Assert.Equal("0\n65534\n", o);
        // The container's own user is untouched by exec -u: a plain exec is still root with the default caps.
        (code, o, _) = _r.Cli("exec", "xu", "id", "-u");
        Assert.Equal((0, "0\n"), (code, o));
        (code, _, e) = _r.Cli("exec", "-u", "ghost", "xu", "true");
        Assert.Equal(1, code);
        Assert.Contains("unable to find user ghost", e);
        Assert.Equal(0, _r.Cli("rm", "-f", "xu").Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void Exec_Tty_GivesPtyOfContainer_OwnedByUser()
    {
        var id = StartSleeper("xt");
        var (code, o, e) = _r.Cli("exec", "-t", "-u", "nobody", "xt", "sh", "-c", "tty; stat -c %u /proc/self/fd/0; exec 3</dev/tty && echo ctty");
        Assert.True(code == 0, e);
        Assert.Equal("/dev/pts/0\r\n65534\r\nctty\r\n", o);
        (code, o, _) = _r.Cli("exec", "-it", "xt", "sh", "-c", "exit 3");
        Assert.Equal((3, ""), (code, o));
        Assert.Equal(0, _r.Cli("rm", "-f", "xt").Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void Run_Tty_Foreground()
    {
        var (code, o, e) = _r.Cli("run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo $TERM; exit 5");
        Assert.True(code == 5, e);
        Assert.Equal("/dev/pts/0\r\nxterm\r\n", o);
        (code, _, e) = _r.Cli("run", "--rm", "-d", "-t", "busybox", "true");
        Assert.Equal(1, code);
        Assert.Contains("-t with -d is not supported yet", e);
        _r.AssertNoContainers();
    }
}
