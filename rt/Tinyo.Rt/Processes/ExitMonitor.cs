using System.Globalization;
using System.Text;
using Tinyo.Rt.Containers;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Records the exit of detached containers after the process that started them has exited: one monitor process per
/// runtime root (never one per container), the runtime binary's hidden <c>monitor</c> verb.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> <c>tinyort run -d</c> and <c>create</c> exit once the container runs; its pid 1 is reparented to
/// the host's pid 1 (or a subreaper), which reaps it without telling anyone. Since Linux 6.15 a pidfd keeps the wait
/// status of its process once the process is reaped, whoever the parent was (<see cref="ExitInfo"/>). So the CLI
/// takes a pidfd of the container's process while it is still its own unreaped child (so the pid cannot name
/// another process) and hands it to the monitor, which outlives the CLI and records the exit.</para>
/// <para><b>Protocol.</b> <c>ROOT/monitor.sock</c>, a SOCK_SEQPACKET unix socket (mode 0600): the client sends
/// <c>W</c>+id+<c>\n</c>+pid+<c>\n</c>+pid start time with the pidfd attached (SCM_RIGHTS) and waits for <c>A</c>,
/// sent once the pidfd is watched. No answer (no socket, refused, EOF) means no monitor: the client takes the flock
/// on <c>ROOT/locks/monitor.lock</c> without waiting; if it gets it, nobody else can be starting or running a monitor, and
/// it spawns one — <c>BIN monitor ROOT ID PID START</c>, setsid, stdio on /dev/null and <c>ROOT/monitor.log</c> —
/// passing the pidfd as fd 3 and the locked lock file as fd 4, so the lock moves to the monitor with no gap and the
/// client does not wait for it to start. If the lock is held, a monitor is starting or exiting: the client retries
/// (bounded). So at most one monitor runs per root, and many concurrent <c>run -d</c> start at most one.</para>
/// <para><b>Monitor.</b> Binds the socket (replacing a stale one: it holds the lock), writes <c>ROOT/monitor.pid</c>,
/// then epolls the listening socket, its clients and the pidfds. A pidfd turns readable when its process exits; the
/// monitor then reads the exit from it — after the reaper ran: until then the kernel reports nothing, so it asks
/// again every 50 ms for up to a minute — and records exit code, signal and OOM verdict in the container's state
/// under the state directory's lock (<see cref="ContainerRuntime.RecordExitIn"/>; a container deleted or restarted
/// meanwhile is left alone). Having watched nothing for <see cref="IdleMilliseconds"/>, it closes the socket, removes
/// socket and pid file and exits, releasing the lock; a client that connected in that instant sees EOF instead of
/// <c>A</c> and starts a new monitor. Memory: one small NativeAOT process per root, plus a pidfd per running
/// container.</para>
/// </remarks>
public static unsafe partial class ExitMonitor
{
    internal const string SocketName = "monitor.sock", PidFileName = "monitor.pid", LockName = "monitor.lock", LogName = "monitor.log";
    private const int PidfdArg = 3, LockArg = 4;
    private const int ReapPollMs = 50, ReapBoundMs = 60_000, ClientBoundMs = 5_000;

    /// <summary>How long the monitor lingers with nothing to watch before it exits (default 3 s;
    /// <c>TINYO_MONITOR_IDLE_MS</c> overrides it).</summary>
    public static int IdleMilliseconds =>
        int.TryParse(Environment.GetEnvironmentVariable("TINYO_MONITOR_IDLE_MS"), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 3000;

    /// <summary>The pid of the monitor of <paramref name="root"/> as its pid file says, or null (no monitor).</summary>
    public static int? PidOf(RuntimeRoot root)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(root.Path, PidFileName)).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// The hidden <c>monitor ROOT ID PID START</c> verb (fd 3: the first pidfd, fd 4: the locked lock file, both
    /// inherited from the client that spawned it), or <c>monitor ROOT</c> (no first watch: spawned to relay a log,
    /// whose request follows on the socket): when <paramref name="args"/> are that, runs the monitor until it is
    /// idle and returns true with its exit code.
    /// </summary>
    public static bool TryRunVerb(string[] args, out int code)
    {
        code = 0;
        if (args.Length == 2 && args[0] == "monitor")
        {
            // Spawned for a log relay: no first watch, the client sends its request once the socket is bound.
            code = Serve(new RuntimeRoot(args[1]), null);
            return true;
        }
        if (args.Length != 5 || args[0] != "monitor") return false;
        if (!int.TryParse(args[3], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || !ulong.TryParse(args[4], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            code = 2;
            return true;
        }
        code = Serve(new RuntimeRoot(args[1]), new Watch(args[2], pid, start));
        return true;
    }

    private readonly record struct Watch(string Id, int Pid, ulong Start);

    private static int Serve(RuntimeRoot root, Watch? first)
    {
        SysFcntl(PidfdArg, F_SETFD, FD_CLOEXEC);
        SysFcntl(LockArg, F_SETFD, FD_CLOEXEC);
        // The lock rode in from the client; taking it again on the same open file succeeds at once. Refuse to run
        // without it (or on another file, as a hand-typed `tinyort monitor` would): a second monitor must never bind
        // over a live one.
        if (!IsLockFile(LockArg, Path.Combine(root.Locks, LockName)) || Flock(LockArg, LOCK_EX | LOCK_NB) != 0)
        {
            Log("started without the monitor lock; exiting");
            return 1;
        }
        var sockPath = Path.Combine(root.Path, SocketName);
        var pidPath = Path.Combine(root.Path, PidFileName);
        int listener = Listen(sockPath);
        if (listener < 0) return 1;
        try
        {
            File.WriteAllText(pidPath + ".tmp", GetPid().ToString(CultureInfo.InvariantCulture));
            File.Move(pidPath + ".tmp", pidPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Log("writing the pid file: " + e.Message); }
        int ep = EpollCreate1(EPOLL_CLOEXEC);
        if (ep < 0)
        {
            Log(Error("epoll_create1").Message);
            return 1;
        }
        var loop = new Loop(root, ep, listener);
        if (first is { } w) loop.Add(PidfdArg, w);
        else SysClose(PidfdArg);
        loop.AdoptLogs();
        loop.Run();
        loop.CloseRelays();
        // Stop answering first, so a client either got its "A" from us or sees EOF/refusal and starts a new
        // monitor; that one binds only after our exit releases the lock.
        SysClose(listener);
        SysUnlink(sockPath);
        SysUnlink(pidPath);
        var log = Path.Combine(root.Path, LogName);
        try { if (new FileInfo(log).Length == 0) File.Delete(log); } // nothing went wrong: leave no file behind
        catch (IOException) { }
        return 0;
    }

    /// <summary>Whether <paramref name="fd"/> is the file at <paramref name="path"/> (same device and inode).</summary>
    private static bool IsLockFile(int fd, string path)
    {
        if (StatxAt(fd, "\0"u8, AT_EMPTY_PATH_, out var a) != 0) return false;
        var p = Encoding.UTF8.GetBytes(path + "\0");
        if (StatxAt(AT_FDCWD_, p, 0, out var b) != 0) return false;
        return a.Ino == b.Ino && a.DevMajor == b.DevMajor && a.DevMinor == b.DevMinor;
    }

    /// <summary>Binds and listens on the socket (mode 0600), replacing a stale one: we hold the lock.</summary>
    private static int Listen(string path)
    {
        int s = SysSocket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0) { Log(Error("socket").Message); return -1; }
        SysUnlink(path);
        var addr = new SockaddrUn();
        int len = UnixAddress(path, &addr, out int dir);
        uint old = Umask(0x3F /* 077 */);
        int rc = len < 0 ? -1 : SysBind(s, &addr, (uint)len);
        int errno = Errno;
        Umask(old);
        if (dir >= 0) SysClose(dir);
        if (rc != 0 || SysListen(s, 4096) != 0)
        {
            Log(Error("binding", path, rc != 0 ? errno : -1).Message);
            SysClose(s);
            return -1;
        }
        return s;
    }

    private static void Log(string msg)
    {
        var line = Encoding.UTF8.GetBytes(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) + " tinyort monitor: " + msg + "\n");
        SysWriteAll(2, line);
    }

    /// <summary>The monitor's state and event loop (single-threaded).</summary>
    private sealed class Loop(RuntimeRoot root, int ep, int listener)
    {
        private readonly Dictionary<int, Watch> _watching = [];
        private readonly List<(int Pidfd, Watch W, long Deadline)> _reaping = [];
        private readonly Dictionary<int, long> _clients = [];
        private readonly Dictionary<int, LogRelay> _relays = [];

        public bool Add(int pidfd, Watch w)
        {
            var ev = new EpollEvent { Events = EPOLLIN, Data = (ulong)pidfd };
            if (EpollCtl(ep, EPOLL_CTL_ADD, pidfd, &ev) != 0)
            {
                Log(Error($"watching container {w.Id}").Message);
                SysClose(pidfd);
                return true; // taken (and dropped): the client must not close it again
            }
            _watching[pidfd] = w;
            return true;
        }

        public void Run()
        {
            var lev = new EpollEvent { Events = EPOLLIN, Data = (ulong)listener };
            EpollCtl(ep, EPOLL_CTL_ADD, listener, &lev);
            const int Max = 64;
            var events = stackalloc EpollEvent[Max];
            long idleSince = 0;
            int idle = IdleMilliseconds;
            while (true)
            {
                long now = Environment.TickCount64;
                bool empty = _watching.Count == 0 && _reaping.Count == 0 && _clients.Count == 0 && _relays.Count == 0;
                if (empty && idleSince == 0) idleSince = now;
                int timeout = empty ? (int)Math.Max(0, idleSince + idle - now)
                    : _reaping.Count > 0 ? ReapPollMs
                    : _clients.Count > 0 ? 100
                    : -1;
                int n = EpollWait(ep, events, Max, timeout);
                if (n < 0 && Errno != Errno_.EINTR)
                {
                    Log(Error("epoll_wait").Message);
                    return;
                }
                for (int i = 0; i < n; i++)
                {
                    int fd = (int)events[i].Data;
                    if (fd == listener) Accept();
                    else if (_clients.ContainsKey(fd)) Serve(fd);
                    else if (_watching.Remove(fd, out var w)) Exited(fd, w);
                    else if (_relays.TryGetValue(fd, out var relay) && !relay.Pump()) StopRelay(relay);
                }
                now = Environment.TickCount64;
                for (int i = _reaping.Count - 1; i >= 0; i--)
                {
                    var (fd, w, deadline) = _reaping[i];
                    var r = ExitInfo.Read(fd, out int ws);
                    if (r == ExitRead.NotYet && now < deadline) continue;
                    _reaping.RemoveAt(i);
                    Finish(fd, w, r, ws);
                }
                if (_clients.Count > 0)
                    foreach (var (fd, deadline) in _clients)
                        if (now > deadline) { _clients.Remove(fd); SysClose(fd); }
                if (_watching.Count > 0 || _reaping.Count > 0 || _clients.Count > 0 || _relays.Count > 0) idleSince = 0;
                else if (idleSince != 0 && now - idleSince >= idle) return;
            }
        }

        private void Accept()
        {
            while (true)
            {
                int c = SysAccept4(listener, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c < 0) return; // EAGAIN: all taken
                var ev = new EpollEvent { Events = EPOLLIN, Data = (ulong)c };
                if (EpollCtl(ep, EPOLL_CTL_ADD, c, &ev) != 0) { SysClose(c); continue; }
                _clients[c] = Environment.TickCount64 + ClientBoundMs;
            }
        }

        /// <summary>One request, answered <c>A</c> once taken: <c>W</c>id\npid\nstart with a pidfd (record its exit) or
        /// <c>L</c>id\ncap with the read end of the container's log FIFO (relay it into the capped log).</summary>
        private void Serve(int c)
        {
            Span<byte> buf = stackalloc byte[512];
            int n = RecvFd(c, buf, out int fd);
            if (n < 0 && Errno == Errno_.EAGAIN) return;
            _clients.Remove(c);
            try
            {
                bool ok = n > 0 && fd >= 0 && buf[0] switch
                {
                    (byte)'W' => TryParse(buf[..n], out var w) && Add(fd, w),
                    (byte)'L' => TryParseLog(buf[..n], out var id, out var cap) && AddRelay(fd, id, cap),
                    _ => false,
                };
                if (!ok)
                {
                    if (fd >= 0) SysClose(fd);
                    return;
                }
                SysWriteAll(c, "A"u8);
            }
            finally { SysClose(c); }
        }

        private static bool TryParse(ReadOnlySpan<byte> msg, out Watch w)
        {
            w = default;
            if (msg.Length < 2 || msg[0] != (byte)'W') return false;
            var parts = Encoding.UTF8.GetString(msg[1..]).Split('\n');
            if (parts.Length != 3
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || !ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var start)) return false;
            try { Oci.Bundle.ValidateId(parts[0]); }
            catch (RtException) { return false; }
            w = new Watch(parts[0], pid, start);
            return true;
        }

        private static bool TryParseLog(ReadOnlySpan<byte> msg, out string id, out long cap)
        {
            id = "";
            cap = 0;
            var parts = Encoding.UTF8.GetString(msg[1..]).Split('\n');
            if (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out cap) || cap < 2) return false;
            try { Oci.Bundle.ValidateId(parts[0]); }
            catch (RtException) { return false; }
            id = parts[0];
            return true;
        }

        /// <summary>
        /// Relays <paramref name="fifo"/> into the container's log. The same FIFO twice (a node that re-hands every
        /// running container's log when it starts) is one relay; a new FIFO of the same container (restarted in
        /// place) replaces the old relay, whose writers are gone: what it still holds is copied first.
        /// </summary>
        private bool AddRelay(int fifo, string id, long cap)
        {
            if (StatxAt(fifo, "\0"u8, AT_EMPTY_PATH_, out var st) != 0) return false;
            foreach (var r in _relays.Values)
            {
                if (r.Id != id) continue;
                if (StatxAt(r.Fd, "\0"u8, AT_EMPTY_PATH_, out var old) == 0 && old.Ino == st.Ino && old.DevMajor == st.DevMajor && old.DevMinor == st.DevMinor)
                {
                    SysClose(fifo); // already relayed
                    return true;
                }
                while (r.Pump()) if (!Readable(r.Fd)) break;
                StopRelay(r);
                break;
            }
            if (SysFcntl(fifo, F_SETFL, O_NONBLOCK) != 0) return false;
            var relay = new LogRelay(id, fifo, Path.Combine(root.Containers, id, Containers.ImageContainers.LogName), cap,
                p => Log($"container {id}: log: {p}"));
            var ev = new EpollEvent { Events = EPOLLIN, Data = (ulong)fifo };
            if (EpollCtl(ep, EPOLL_CTL_ADD, fifo, &ev) != 0)
            {
                Log(Error($"relaying the log of container {id}").Message);
                return false;
            }
            _relays[fifo] = relay;
            return true;
        }

        private static bool Readable(int fd)
        {
            var p = new PollFd { Fd = fd, Events = 1 /* POLLIN */ };
            return Poll(&p, 1, 0) > 0 && (p.Revents & 1) != 0;
        }

        private void StopRelay(LogRelay r)
        {
            EpollCtl(ep, EPOLL_CTL_DEL, r.Fd, null);
            _relays.Remove(r.Fd);
            r.Dispose();
        }

        /// <summary>
        /// A monitor that starts takes over the FIFOs of running containers: the previous monitor died (killed, or
        /// the host's OOM killer), their output waits in the pipe (the container blocks once it is full, it does
        /// not die), and a relay is needed before anything else asks for one.
        /// </summary>
        public void AdoptLogs()
        {
            IEnumerable<string> dirs;
            try { dirs = Directory.EnumerateDirectories(root.Containers).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
            foreach (var dir in dirs)
            {
                var id = Path.GetFileName(dir);
                var fifo = Path.Combine(dir, LogRelay.FifoName);
                try
                {
                    if (!File.Exists(fifo) || ContainerRecord.Load(dir, id).Status(dir) != "running") continue;
                    int fd = SysOpen(fifo, OFlag.RdOnly | OFlag.NonBlock | OFlag.Cloexec, 0);
                    if (fd < 0) continue;
                    if (!AddRelay(fd, id, Containers.ImageContainers.LogCapOf(dir))) SysClose(fd);
                }
                catch (Exception e) when (e is RtException or IOException or UnauthorizedAccessException)
                {
                    // removed meanwhile, or not a container directory
                }
            }
        }

        /// <summary>Copies what the pipes still hold and closes every relay (the monitor exits).</summary>
        public void CloseRelays()
        {
            foreach (var r in _relays.Values.ToList())
            {
                while (r.Pump()) if (!Readable(r.Fd)) break;
                StopRelay(r);
            }
        }

        /// <summary>The process exited: its status is there once its parent has reaped it.</summary>
        private void Exited(int fd, Watch w)
        {
            EpollCtl(ep, EPOLL_CTL_DEL, fd, null);
            var r = ExitInfo.Read(fd, out int ws);
            if (r == ExitRead.NotYet) _reaping.Add((fd, w, Environment.TickCount64 + ReapBoundMs));
            else Finish(fd, w, r, ws);
        }

        private void Finish(int fd, Watch w, ExitRead r, int ws)
        {
            SysClose(fd);
            if (r != ExitRead.Exited)
            {
                Log($"container {w.Id} (pid {w.Pid}): exit status unknown ({r})");
                return;
            }
            try { ContainerRuntime.RecordExitIn(Path.Combine(root.Containers, w.Id), w.Id, w.Pid, w.Start, ws); }
            catch (Exception e) { Log($"container {w.Id}: recording its exit: {e.Message}"); }
        }
    }
}
