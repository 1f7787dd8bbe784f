using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Oci;

/// <summary>How a hook process ended: its exit code or signal, or a timeout; and what it printed.</summary>
internal readonly record struct HookOutcome(int Code, int Signal, bool TimedOut, string Output);

/// <summary>
/// Starts one hook process exactly as the spec describes it — <c>path</c> executed with <c>args</c> as its whole argv
/// (<c>args[0]</c> included) and exactly <c>env</c> — with the state on stdin and stdout+stderr captured.
/// </summary>
/// <remarks>
/// Why not <see cref="System.Diagnostics.Process"/>: it always passes the path as argv[0]. Hooks may dispatch on
/// argv[0]: Docker's network hook is <c>/proc/DOCKERD/exe</c> with <c>args[0] = "libnetwork-setkey"</c>, which is
/// how dockerd's re-exec knows to act as that hook (with the path as argv[0] it starts a second dockerd, which fails).
/// So the child is started like every process of the runtime: the <see cref="SyscallScript"/> trampoline (clone with
/// CLONE_VM|CLONE_VFORK, no managed code in the child), whose table makes it a process group leader (a timeout kills
/// the hook and whatever it started), puts the pipes on 0–2, marks every other descriptor close-on-exec, restores
/// SIGPIPE and the signal mask, and execs.
/// </remarks>
internal static unsafe class HookProcess
{
    private const long SYS_setpgid = 109;
    private const int OutputCap = 64 * 1024;

    /// <summary>Runs the hook to its end (or kills it after <paramref name="timeoutMs"/>, -1: no limit). Returns null
    /// in <paramref name="startError"/>'s stead when it could not be started.</summary>
    public static HookOutcome Run(string path, List<string>? args, List<string>? env, string stdin, int timeoutMs, out string? startError)
    {
        startError = null;
        if (SysAccess(path, 1 /* X_OK */) != 0)
        {
            startError = Errno == Errno_.ENOENT ? "no such file" : $"not executable ({Marshal.GetPInvokeErrorMessage(Errno)})";
            return default;
        }
        var mem = new List<nint>();
        int* p = stackalloc int[4] { -1, -1, -1, -1 }; // stdin read/write, output read/write
        int pidfd = -1, pid = -1;
        try
        {
            if (SysPipe2(p, OFlag.Cloexec) != 0 || SysPipe2(p + 2, OFlag.Cloexec) != 0) throw Error("pipe2");
            // dup3 onto 0–2 needs sources above them (our own stdio may be closed, so pipe2 may return 0–2).
            for (int i = 0; i < 4; i++)
                if (p[i] < 3)
                {
                    int moved = SysFcntl(p[i], F_DUPFD_CLOEXEC, 3);
                    if (moved < 0) throw Error("fcntl");
                    SysClose(p[i]);
                    p[i] = moved;
                }

            nint Alloc(int bytes)
            {
                var m = (nint)NativeMemory.AllocZeroed((nuint)Math.Max(bytes, 8));
                mem.Add(m);
                return m;
            }
            nint Str(string s)
            {
                var b = Encoding.UTF8.GetBytes(s);
                var m = Alloc(b.Length + 1);
                b.CopyTo(new Span<byte>((void*)m, b.Length));
                return m;
            }
            nint StrArray(List<string> l)
            {
                var a = (nint*)Alloc((l.Count + 1) * sizeof(nint));
                for (int i = 0; i < l.Count; i++) a[i] = Str(l[i]);
                return (nint)a;
            }

            var argv = args is { Count: > 0 } ? args : [path];
            var zeroes = Alloc(32);
            using var rows = new Processes.SyscallScript();
            rows.Add("setpgid", SYS_setpgid, 0, 0);
            rows.Add("stdin", SYS_dup3, p[0], 0, 0);
            rows.Add("stdout", SYS_dup3, p[3], 1, 0);
            rows.Add("stderr", SYS_dup3, p[3], 2, 0);
            rows.Add("close_range", SYS_close_range, 3, uint.MaxValue, CLOSE_RANGE_CLOEXEC);
            rows.Add("resetting SIGPIPE", SYS_rt_sigaction, SIGPIPE, zeroes, 0, 8); // .NET ignores SIGPIPE; a hook must not inherit that
            rows.Add("unblocking signals", SYS_rt_sigprocmask, SIG_SETMASK, zeroes, 0, 8); // the trampoline starts with all signals blocked
            rows.Add("exec", SYS_execve, Str(path), StrArray(argv), StrArray(env ?? []));
            pid = rows.Run(0, reap: false);
            SysClose(p[0]);
            SysClose(p[3]);
            p[0] = p[3] = -1;
            pidfd = PidfdOpen(pid);
            if (pidfd < 0) throw Error("pidfd_open of a hook");
            return Supervise(pid, pidfd, p, Encoding.UTF8.GetBytes(stdin), timeoutMs);
        }
        finally
        {
            for (int i = 0; i < 4; i++) if (p[i] >= 0) SysClose(p[i]);
            if (pidfd >= 0) SysClose(pidfd);
            foreach (var m in mem) NativeMemory.Free((void*)m);
        }
    }

    /// <summary>Feeds stdin, collects the output and waits for the exit (or the deadline), in one poll loop: a hook
    /// that never reads its stdin, or one whose children keep the output pipe open, cannot block us.</summary>
    /// <remarks><paramref name="p"/>[1] is the stdin pipe's write end (closed here once the state is written, and
    /// set to -1), <paramref name="p"/>[2] the output pipe's read end.</remarks>
    private static HookOutcome Supervise(int pid, int pidfd, int* p, byte[] input, int timeoutMs)
    {
        int inW = p[1], outR = p[2];
        SysFcntl(inW, F_SETFL, OFlag.NonBlock);
        SysFcntl(outR, F_SETFL, OFlag.NonBlock);
        var output = new MemoryStream();
        var buf = new byte[16 * 1024];
        int written = 0;
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        bool exited = false, timedOut = false, outOpen = true;
        if (input.Length == 0) { SysClose(inW); p[1] = inW = -1; }
        var fds = stackalloc PollFd[3];
        while (!exited)
        {
            fds[0] = new PollFd { Fd = pidfd, Events = POLLIN };
            fds[1] = new PollFd { Fd = outOpen ? outR : -1, Events = POLLIN };
            fds[2] = new PollFd { Fd = inW, Events = POLLOUT };
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                Kill(-pid, SIGKILL);
                Kill(pid, SIGKILL);
                timedOut = true;
                break;
            }
            int n = SysPoll(fds, 3, (int)Math.Min(left, int.MaxValue));
            if (n < 0)
            {
                if (Errno == Errno_.EINTR) continue;
                throw Error("poll");
            }
            if (inW >= 0 && fds[2].Revents != 0)
            {
                fixed (byte* b = input)
                {
                    nint w = SysWrite(inW, b + written, (nuint)(input.Length - written));
                    if (w > 0) written += (int)w;
                    // Done, or the hook closed its stdin (EPIPE: it need not read the state).
                    if (written == input.Length || (w < 0 && Errno != Errno_.EAGAIN && Errno != Errno_.EINTR))
                    {
                        SysClose(inW);
                        p[1] = inW = -1;
                    }
                }
            }
            if (outOpen && fds[1].Revents != 0) outOpen = Drain(outR, buf, output);
            if (fds[0].Revents != 0) exited = true;
        }
        if (outOpen) Drain(outR, buf, output); // what it wrote before it ended; its children may keep the pipe open
        int st = 0;
        while (WaitPid(pid, &st, 0) < 0 && Errno == Errno_.EINTR) { }
        var (code, sig) = DecodeWaitStatus(st);
        return new HookOutcome(code, sig, timedOut, Encoding.UTF8.GetString(output.GetBuffer(), 0, (int)output.Length));
    }

    /// <summary>Reads what is available (keeping the first <see cref="OutputCap"/> bytes); false at EOF.</summary>
    private static bool Drain(int fd, byte[] buf, MemoryStream output)
    {
        while (true)
        {
            int n;
            fixed (byte* b = buf) n = (int)SysRead(fd, b, (nuint)buf.Length);
            if (n > 0)
            {
                int keep = (int)Math.Min(n, OutputCap - output.Length);
                if (keep > 0) output.Write(buf, 0, keep);
                continue;
            }
            if (n == 0) return false;
            return Errno is Errno_.EAGAIN or Errno_.EINTR;
        }
    }
}
