using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// The container side of start-up: the code of <c>tinyort init FD</c>, running as pid 1 of the container's new
/// namespaces in a freshly exec'd image of the runtime. It receives an <see cref="InitConfig"/> on the sync socket,
/// applies the container's set-up plan (<see cref="Setup.InitBackend"/>) and execs its process. Everything here runs
/// on the main thread, which is the thread that execs: unshare, setns, capabilities and the no_new_privs bit are
/// per-thread.
/// </summary>
/// <remarks>
/// Protocol on the SOCK_SEQPACKET sync socket: parent → init: the config (<see cref="InitConfigCodec"/>); init → parent: <c>R</c> when ready
/// or <c>E</c>+message on failure; then init waits for the start signal: <c>G</c> on the socket (run) or a byte on
/// the exec FIFO (create/start), and execs. The socket is close-on-exec, so the parent of a run sees EOF once the
/// process runs, or an <c>E</c> message if execve failed.
/// </remarks>
public static class ContainerInit
{
    /// <summary>
    /// The hidden <c>init FD</c> verb of every binary that embeds the runtime (<c>tinyort</c>, <c>tinyonode</c>):
    /// when <paramref name="args"/> are exactly that, runs init (returning only on failure, with the exit code) and
    /// returns true; likewise the <c>monitor</c> verb (<see cref="Processes.ExitMonitor.TryRunVerb"/>). Checked
    /// first thing in <c>Main</c>, before any command-line parsing, to keep init's start minimal.
    /// </summary>
    public static bool TryRunVerb(string[] args, out int code)
    {
        code = 0;
        // The other hidden verb: a root's exit monitor (Processes/ExitMonitor), spawned by the CLI.
        if (args.Length is 5 or 2 && Processes.ExitMonitor.TryRunVerb(args, out code)) return true;
        if (args.Length != 2 || args[0] != "init") return false;
        code = int.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var fd)
            ? Run(fd)
            : 2;
        return true;
    }

    /// <summary>Runs init. Returns only on failure, with the process's exit code.</summary>
    public static unsafe int Run(int syncFd)
    {
        // Start from a clean signal state: the launcher blocked everything across clone.
        ulong none = 0;
        PthreadSigmask(SIG_SETMASK, &none, null);
        SysFcntl(syncFd, F_SETFD, FD_CLOEXEC);
        try
        {
            // Native memory: a 1 MiB managed array would land on the large object heap and wake the GC in a process
            // that lives for a few milliseconds.
            const int Max = 1 << 20;
            byte* buf = (byte*)NativeMemory.Alloc(Max);
            int n = SysReadRetry(syncFd, new Span<byte>(buf, Max));
            if (n <= 0) return 1; // the parent went away before sending anything
            var c = InitConfigCodec.Decode(new ReadOnlySpan<byte>(buf, n));
            NativeMemory.Free(buf);
            // The same plan the parent built to choose this back-end, applied step by step (Setup/).
            Setup.InitBackend.Run(Setup.ContainerPlan.For(c), c, new Setup.LibcSetupCalls(), syncFd);
            throw new RtException("internal error: the set-up plan ended without exec");
        }
        catch (Exception e)
        {
            string msg = e is RtException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            if (!Send(syncFd, "E" + msg))
            {
                var line = Encoding.UTF8.GetBytes("tinyort init: " + msg + "\n");
                SysWriteAll(2, line);
            }
            return 1;
        }
    }

    private static bool Send(int fd, string msg) => SysWriteAll(fd, Encoding.UTF8.GetBytes(msg));
}
