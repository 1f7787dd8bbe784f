using System.Runtime.InteropServices;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Foreground <c>run -t</c> / <c>exec -t</c>: copies this process's stdin to a pty master and the master's output to
/// stdout, with the caller's terminal (when stdin is one) in raw mode so keystrokes reach the container unchanged,
/// and window-size changes (SIGWINCH) passed on. <see cref="Dispose"/> restores the terminal.
/// </summary>
public sealed unsafe class TerminalProxy : IDisposable
{
    private readonly int _master, _in, _out;
    private readonly KTermios _saved;
    private readonly bool _raw;
    private readonly Thread _output;
    private readonly PosixSignalRegistration? _winch;
    private int _disposed;

    private TerminalProxy(int master, int stdin, int stdout)
    {
        _master = master;
        _in = stdin;
        _out = stdout;
        if (IsAtty(stdin) == 1)
        {
            KTermios t;
            if (SysIoctl(stdin, TCGETS, &t) == 0)
            {
                _saved = t;
                // cfmakeraw(3).
                t.Iflag &= ~(1u | 2 | 8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400); // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
                t.Oflag &= ~1u; // OPOST
                t.Lflag &= ~(8u | 0x40 | 2 | 1 | 0x8000); // ECHO ECHONL ICANON ISIG IEXTEN
                t.Cflag &= ~(0x30u | 0x100); // CSIZE PARENB
                t.Cflag |= 0x30; // CS8
                t.Cc[6] = 1; // VMIN
                t.Cc[5] = 0; // VTIME
                _raw = SysIoctl(stdin, TCSETSW, &t) == 0;
            }
            CopyWindowSize();
            _winch = PosixSignalRegistration.Create((PosixSignal)28 /* SIGWINCH, by number */, _ => CopyWindowSize());
        }
        _output = new Thread(Pump, 64 * 1024) { IsBackground = true, Name = "tty-out" };
        _output.Start((_master, _out));
        new Thread(Pump, 64 * 1024) { IsBackground = true, Name = "tty-in" }.Start((_in, _master));
    }

    /// <summary>Starts proxying <paramref name="master"/> (which the proxy then owns) to this process's stdio.</summary>
    public static TerminalProxy Start(int master, int stdin = 0, int stdout = 1) => new(master, stdin, stdout);

    private void CopyWindowSize()
    {
        WinSize ws;
        if (SysIoctl(_in, TIOCGWINSZ, &ws) == 0) SysIoctl(_master, TIOCSWINSZ, &ws);
    }

    private static void Pump(object? o)
    {
        var (from, to) = ((int, int))o!;
        var buf = new byte[16 * 1024];
        while (true)
        {
            int n = SysReadRetry(from, buf);
            if (n <= 0) return; // EOF, or EIO once every slave descriptor is closed
            if (!SysWriteAll(to, buf.AsSpan(0, n))) return;
        }
    }

    /// <summary>Waits (up to <paramref name="timeoutMs"/>) for the container's output to drain — the master reads
    /// EOF once no process holds the slave — then restores the terminal and closes the master.</summary>
    public void Finish(int timeoutMs = 2000)
    {
        _output.Join(timeoutMs);
        Dispose();
    }

    /// <summary>Restores the caller's terminal and closes the master.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _winch?.Dispose();
        if (_raw)
        {
            var t = _saved;
            SysIoctl(_in, TCSETSW, &t);
        }
        SysClose(_master);
    }
}
