using System.Text;
using Tinyo.Rt.Containers;
using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// <c>process.terminal</c>: a pseudo-terminal for the container's process, allocated as runc and crun do.
/// </summary>
/// <remarks>
/// <para><b>Init side.</b> After pivot_root and the switch to the process's user, init opens <c>/dev/ptmx</c> — the
/// container's own devpts instance (<c>newinstance</c>, <c>/dev/ptmx → pts/ptmx</c>), so the pty is numbered and
/// visible inside the container only — unlocks it and opens the slave with <c>TIOCGPTPEER</c> (no path lookup; the
/// slave belongs to the user that opened it, as a login's tty does). The master goes to the parent over the sync
/// socket (<c>T</c> + SCM_RIGHTS); the slave becomes fds 0-2 and, init being a session leader (setsid), its
/// controlling terminal (<c>TIOCSCTTY</c>).</para>
/// <para><b>Parent side.</b> With <c>--console-socket PATH</c> (runc's protocol, what containerd, conmon and
/// <c>recvtty</c> speak) the parent connects to the unix socket before anything is created and sends the master
/// there with SCM_RIGHTS, the payload being the master's name (runc's <c>utils.SendFile</c>). Otherwise (foreground
/// <c>run -t</c>) it keeps the master and proxies its own stdio (<see cref="TerminalProxy"/>).</para>
/// </remarks>
public static class Terminal
{
    /// <summary>Init: allocates the pty, sends the master to the parent, installs the slave as stdio and
    /// controlling terminal. Runs on init's main thread after setsid.</summary>
    internal static unsafe void SetUpInInit(int syncFd, InitConfig c)
    {
        int master = SysOpen("/dev/ptmx", OFlag.RdWr | OFlag.NoCtty | OFlag.Cloexec, 0);
        if (master < 0) throw Error("process.terminal: opening /dev/ptmx in the container (is devpts mounted on /dev/pts?)");
        int slave = -1;
        try
        {
            int unlock = 0;
            if (SysIoctl(master, TIOCSPTLCK, &unlock) != 0) throw Error("process.terminal: unlocking the pty");
            slave = SysIoctlInt(master, TIOCGPTPEER, OFlag.RdWr | OFlag.NoCtty | OFlag.Cloexec);
            if (slave < 0) throw Error("process.terminal: opening the pty's slave");
            if (c.ConsoleRows > 0 && c.ConsoleCols > 0)
            {
                var ws = new WinSize { Rows = c.ConsoleRows, Cols = c.ConsoleCols };
                if (SysIoctl(slave, TIOCSWINSZ, &ws) != 0) throw Error("process.terminal: setting the console size");
            }
            if (!SendFd(syncFd, master, "T"u8)) throw Error("process.terminal: handing the pty to the runtime");
            for (int i = 0; i < 3; i++)
                if (SysDup3(slave, i, 0) < 0) throw Error("process.terminal: installing the pty as stdio");
            if (SysIoctl(0, TIOCSCTTY, null) != 0) throw Error("process.terminal: making the pty the controlling terminal");
        }
        finally
        {
            SysClose(master);
            if (slave > 2) SysClose(slave);
        }
    }

    /// <summary>Parent: receives the master of a <c>T</c> message (already read as <paramref name="fd"/>).</summary>
    internal static int CheckMaster(int fd)
    {
        if (fd < 0) throw new RtException("process.terminal: init sent no pty");
        return fd;
    }

    /// <summary>Connects to a console socket (runc's <c>--console-socket</c>); returns the connected fd.</summary>
    public static int ConnectConsoleSocket(string path)
    {
        int s = ConnectUnix(Path.GetFullPath(path));
        if (s < 0) throw Error("connecting to the console socket", path);
        return s;
    }

    /// <summary>Sends a pty master over a connected console socket, as runc does.</summary>
    public static void SendMaster(int socket, int master)
    {
        if (!SendFd(socket, master, "/dev/ptmx"u8)) throw Error("sending the pty to the console socket");
    }

    /// <summary>
    /// Receives a file descriptor sent with SCM_RIGHTS on <paramref name="socket"/> (the other end of a console
    /// socket; for tests and embedders). Returns it (close-on-exec) and the payload.
    /// </summary>
    public static int ReceiveFd(int socket, out string payload)
    {
        Span<byte> buf = stackalloc byte[4096];
        int n = RecvFd(socket, buf, out int fd);
        if (n < 0) throw Error("receiving from the console socket");
        payload = Encoding.UTF8.GetString(buf[..Math.Max(n, 0)]);
        if (fd < 0) throw new RtException("the console socket message carried no file descriptor");
        return fd;
    }
}

/// <summary><c>exec -t</c>: a pty of a running container's devpts instance, opened from the host.</summary>
internal static class ExecTerminal
{
    /// <summary>
    /// Opens <c>/dev/ptmx</c> inside container <paramref name="pid"/>'s root (resolved with RESOLVE_IN_ROOT: the
    /// container's symlinks cannot lead out), unlocks it and opens its slave, owned by <paramref name="uid"/>.
    /// Returns the slave; <paramref name="master"/> receives the master. Both are close-on-exec.
    /// </summary>
    public static unsafe int Open(int pid, uint uid, out int master)
    {
        master = -1;
        int root = SysOpen("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/root", OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
        if (root < 0) throw Error("exec -t: opening the container's root");
        int m;
        try { m = SysOpenAt2(root, "dev/ptmx", OFlag.RdWr | OFlag.NoCtty | OFlag.Cloexec, Libc.Resolve.InRoot | Libc.Resolve.NoMagicLinks); }
        finally { SysClose(root); }
        if (m < 0) throw Error("exec -t: opening /dev/ptmx in the container (is devpts mounted on /dev/pts?)");
        int unlock = 0;
        int slave = -1;
        if (SysIoctl(m, TIOCSPTLCK, &unlock) != 0 || (slave = SysIoctlInt(m, TIOCGPTPEER, OFlag.RdWr | OFlag.NoCtty | OFlag.Cloexec)) < 0)
        {
            int e = Errno;
            SysClose(m);
            throw Error("exec -t: allocating a pty", errno: e);
        }
        // Created by us (root on the host): give it to the user the command runs as, as a login would.
        if (uid != 0 && Fchown(slave, uid, uint.MaxValue) != 0)
        {
            int e = Errno;
            SysClose(slave);
            SysClose(m);
            throw Error("exec -t: chown of the pty", errno: e);
        }
        master = m;
        return slave;
    }
}
