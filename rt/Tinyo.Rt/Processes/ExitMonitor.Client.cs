using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

// The client side: hand a pidfd to the root's monitor, spawning the monitor when none answers.
public static unsafe partial class ExitMonitor
{
    private const int HandBoundMs = 5_000;

    /// <summary>
    /// Has the monitor of <paramref name="root"/> record the exit of <paramref name="pid"/> (the process of container
    /// <paramref name="id"/>, started at <paramref name="startTime"/>), which must be an unreaped child of this
    /// process. <paramref name="command"/> is the runtime binary (and leading arguments) to spawn a monitor with.
    /// Returns null when handed over (or when there is nothing to do: a kernel before 6.15, or
    /// <c>TINYO_EXIT_MONITOR=0</c>), else why not.
    /// </summary>
    internal static string? Hand(RuntimeRoot root, string[] command, string id, int pid, ulong startTime)
    {
        if (!ExitInfo.KernelSupports || Environment.GetEnvironmentVariable("TINYO_EXIT_MONITOR") == "0") return null;
        int pidfd = PidfdOpen(pid);
        if (pidfd < 0) return Error("pidfd_open").Message;
        try
        {
            var msg = Encoding.UTF8.GetBytes("W" + id + "\n" + pid.ToString(CultureInfo.InvariantCulture) + "\n" + startTime.ToString(CultureInfo.InvariantCulture));
            // A spawned monitor starts with this watch (fd 3): nothing more to send.
            return Request(root, pidfd, msg, lk => (Spawn(root, command, lk, pidfd, [id, pid.ToString(CultureInfo.InvariantCulture), startTime.ToString(CultureInfo.InvariantCulture)]), true));
        }
        finally { SysClose(pidfd); }
    }

    /// <summary>
    /// Has the monitor of <paramref name="root"/> relay the log FIFO of container <paramref name="id"/> into its log
    /// file (<see cref="LogRelay"/>, each file at most <paramref name="maxBytes"/>): <paramref name="fifoReadFd"/> is
    /// the FIFO opened O_RDONLY|O_NONBLOCK (the caller keeps and closes its copy). Spawns a monitor when none
    /// answers and waits until it does. Returns null once a monitor relays it, else why not.
    /// </summary>
    internal static string? RelayLog(RuntimeRoot root, string[] command, string id, int fifoReadFd, long maxBytes)
    {
        if (Environment.GetEnvironmentVariable("TINYO_EXIT_MONITOR") == "0") return "the exit monitor is turned off (TINYO_EXIT_MONITOR=0)";
        var msg = Encoding.UTF8.GetBytes("L" + id + "\n" + maxBytes.ToString(CultureInfo.InvariantCulture));
        // A monitor spawned for a log starts without a first item: ask again once it has bound the socket.
        return Request(root, fifoReadFd, msg, lk => (Spawn(root, command, lk, -1, []), false));
    }

    /// <summary>
    /// Sends <paramref name="msg"/> with <paramref name="fd"/> to the root's monitor, spawning one (with the lock,
    /// through <paramref name="spawn"/>, which says whether that already delivered the request) when none answers.
    /// </summary>
    private static string? Request(RuntimeRoot root, int fd, byte[] msg, Func<int, (string? Error, bool Delivered)> spawn)
    {
        var sockPath = Path.Combine(root.Path, SocketName);
        var lockPath = Path.Combine(root.Locks, LockName);
        long end = Environment.TickCount64 + HandBoundMs;
        int delay = 2;
        while (true)
        {
            if (Send(sockPath, fd, msg)) return null;
            // Nobody answered. Whoever gets the lock without waiting knows no monitor runs or starts: it
            // starts one and the lock goes with it. Held: a monitor is starting (or exiting); ask again.
            int lk = Open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0x180 /* 0600 */);
            if (lk < 0 && Errno == Errno_.ENOENT)
            {
                Directory.CreateDirectory(root.Locks);
                lk = Open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0x180);
            }
            if (lk < 0) return Error("opening", lockPath).Message;
            try
            {
                if (Flock(lk, LOCK_EX | LOCK_NB) == 0)
                {
                    var (err, delivered) = spawn(lk);
                    if (err is not null || delivered) return err;
                }
            }
            finally { Close(lk); }
            if (Environment.TickCount64 > end) return $"no exit monitor answered on {sockPath}";
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 50);
        }
    }

    /// <summary>Sends the request and waits for the monitor's <c>A</c>; false when no monitor took it.</summary>
    private static bool Send(string path, int pidfd, byte[] msg)
    {
        int s = SysSocket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (s < 0) return false;
        int dir = -1;
        try
        {
            var addr = new SockaddrUn();
            int len = UnixAddress(path, &addr, out dir);
            if (len < 0 || SysConnect(s, &addr, (uint)len) != 0) return false;
            SetSocketTimeouts(s, HandBoundMs);
            if (!SendFd(s, pidfd, msg)) return false;
            Span<byte> ack = stackalloc byte[1];
            return SysReadRetry(s, ack) == 1 && ack[0] == (byte)'A';
        }
        finally
        {
            SysClose(s);
            if (dir >= 0) SysClose(dir);
        }
    }

    /// <summary>
    /// Starts <c>BIN monitor ROOT [ID PID START]</c> in a new session with the pidfd (or /dev/null) as fd 3 and the
    /// locked lock file as fd 4, stdin and stdout on /dev/null, stderr appended to <c>ROOT/monitor.log</c>. Like every start in rt,
    /// through the <see cref="SyscallScript"/> trampoline: no managed code runs in the child. Not waited for: the monitor outlives
    /// this process (the CLI), which exits right after.
    /// </summary>
    private static string? Spawn(RuntimeRoot root, string[] command, int lockFd, int pidfd, string[] watch)
    {
        if (command.Length == 0) return "no runtime executable to start the monitor with";
        var argv = new List<string>(command) { "monitor", root.Path };
        argv.AddRange(watch);
        argv[0] = Path.GetFileName(command[0]);
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && (k.StartsWith("DOTNET_", StringComparison.Ordinal) || k.StartsWith("TINYO_MONITOR_", StringComparison.Ordinal) || k == "PATH" || k == "HOME"))
                env.Add(k + "=" + e.Value);
        int devnull = SysOpen("/dev/null", OFlag.RdWr | OFlag.Cloexec, 0);
        var logPath = Path.Combine(root.Path, LogName);
        int log = SysOpen(logPath, OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | 0x400 /* O_APPEND */, 0x180 /* 0600 */);
        var high = new List<int>();
        try
        {
            if (devnull < 0) return Error("opening /dev/null").Message;
            if (log < 0) return Error("opening", logPath).Message;
            using var rows = new SyscallScript();
            // Targets 0..4 from copies above them, so that placing one cannot clobber a source of another.
            ReadOnlySpan<int> sources = [devnull, devnull, log, pidfd >= 0 ? pidfd : devnull, lockFd];
            for (int i = 0; i < sources.Length; i++)
            {
                int h = SysFcntl(sources[i], F_DUPFD_CLOEXEC, 10);
                if (h < 0) return Error("duplicating a descriptor for the monitor").Message;
                high.Add(h);
                rows.Add("placing a descriptor", SYS_dup3, h, i, 0);
            }
            rows.Add("setsid", SYS_setsid);
            rows.Add("chdir /", SYS_chdir, rows.Str("/"));
            rows.Add("unblocking signals", SYS_rt_sigprocmask, SIG_SETMASK, (long)rows.Block(8), 0, 8); // the trampoline starts with all blocked
            rows.Add("exec", SYS_execve, rows.Str(command[0]), rows.Strings(argv), rows.Strings(env));
            int child = rows.Run(0, reap: false);
            int st = 0;
            if (WaitPid(child, &st, WNOHANG) == child)
            {
                var (code, _) = DecodeWaitStatus(st);
                return $"starting the exit monitor {command[0]}: {Marshal.GetPInvokeErrorMessage(code)}";
            }
            // The monitor is our child until we exit: a CLI exits at once (it is reparented), but a daemon that
            // embeds the runtime (tinyonode) lives on, and would keep every monitor that went idle as a zombie.
            new Thread(() =>
            {
                int ws = 0;
                while (WaitPid(child, &ws, 0) < 0 && Errno == Errno_.EINTR) { }
            }) { IsBackground = true, Name = "monitor-reaper" }.Start();
            return null;
        }
        finally
        {
            foreach (var h in high) SysClose(h);
            if (devnull >= 0) SysClose(devnull);
            if (log >= 0) SysClose(log);
        }
    }
}
