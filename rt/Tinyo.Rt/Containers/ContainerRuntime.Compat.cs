using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

// The parts of the OCI lifecycle that other engines rely on and a plain `run` does not need: the terminal hand-off
// (process.terminal, --console-socket) and the lifecycle hooks. Kept apart from the start path in ContainerRuntime.cs.
public sealed partial class ContainerRuntime
{
    /// <summary>What a launch needs beyond the plain start: the console socket and the hooks.</summary>
    private sealed class LaunchCompat : IDisposable
    {
        public int ConsoleSocket = -1;
        public int Master = -1;
        public SpecHooks? Hooks;
        public string Id = "", Bundle = "";
        public Dictionary<string, string>? Annotations;
        public Action<string>? Warn;

        public bool ParentPause => Oci.Hooks.Any(Hooks?.Prestart) || Oci.Hooks.Any(Hooks?.CreateRuntime);

        public void Dispose()
        {
            if (ConsoleSocket >= 0) SysClose(ConsoleSocket);
            if (Master >= 0) SysClose(Master);
            ConsoleSocket = Master = -1;
        }
    }

    /// <summary>Checks the terminal options against the spec and connects the console socket, before anything
    /// exists (a bad socket path fails the create cleanly).</summary>
    private LaunchCompat PrepareCompat(string id, Bundle bundle)
    {
        var p = bundle.Spec.Process!;
        var x = new LaunchCompat { Hooks = bundle.Spec.Hooks, Id = id, Bundle = bundle.Directory, Annotations = bundle.Spec.Annotations, Warn = _o.Warn };
        if (p.Terminal)
        {
            if (_o.ConsoleSocket is null && _o.OnTerminal is null)
                throw new RtException("process.terminal is true: --console-socket is required (or run in the foreground)");
            if (_o.ConsoleSocket is { } path) x.ConsoleSocket = Terminal.ConnectConsoleSocket(path);
        }
        else if (_o.ConsoleSocket is not null)
            throw new RtException("--console-socket needs process.terminal to be true in config.json");
        return x;
    }

    /// <summary>Fills the init configuration's terminal and container-side hook fields.</summary>
    private static void ConfigureCompat(InitConfig config, Spec spec, LaunchCompat x, int pid)
    {
        var p = spec.Process!;
        config.Terminal = p.Terminal;
        if (p.ConsoleSize is { } cs)
        {
            config.ConsoleRows = (ushort)Math.Min(cs.Height, ushort.MaxValue);
            config.ConsoleCols = (ushort)Math.Min(cs.Width, ushort.MaxValue);
        }
        config.PauseBeforePivot = x.ParentPause;
        config.CreateContainerHooks = spec.Hooks?.CreateContainer is { Count: > 0 } cc ? cc : null;
        config.StartContainerHooks = spec.Hooks?.StartContainer is { Count: > 0 } sc ? sc : null;
        if (config.PauseBeforePivot || config.CreateContainerHooks is not null || config.StartContainerHooks is not null)
            config.HookState = Oci.Hooks.State(x.Id, pid, "creating", x.Bundle, x.Annotations);
    }

    /// <summary>
    /// Waits for init's <c>R</c>, serving what comes before it: <c>H</c> (init paused before pivot_root: run the
    /// prestart and createRuntime hooks here, on the host, then answer <c>h</c>) and <c>T</c> + a descriptor (the pty
    /// master). An <c>E</c> message or init's death becomes an exception.
    /// </summary>
    private static void AwaitReady(int sock, int pid, LaunchCompat x)
    {
        var buf = new byte[64 * 1024];
        while (true)
        {
            int n = RecvFd(sock, buf, out int fd);
            if (n < 0) throw Error("reading from init");
            if (fd >= 0 && (n != 1 || buf[0] != (byte)'T' || x.Master >= 0))
            {
                SysClose(fd);
                throw new RtException("unexpected descriptor from init");
            }
            if (n == 0) throw InitFailure(pid, "init exited before the container was ready");
            switch ((char)buf[0])
            {
                case 'R' when n == 1: return;
                case 'T' when n == 1: x.Master = Terminal.CheckMaster(fd); break;
                case 'H' when n == 1:
                    var state = Oci.Hooks.State(x.Id, pid, "creating", x.Bundle, x.Annotations);
                    Oci.Hooks.Run("prestart", x.Hooks?.Prestart, state);
                    Oci.Hooks.Run("createRuntime", x.Hooks?.CreateRuntime, state);
                    if (!SysWriteAll(sock, "h"u8)) throw InitFailure(pid, "resuming init after the createRuntime hooks failed");
                    break;
                case 'E': throw new RtException(System.Text.Encoding.UTF8.GetString(buf, 1, n - 1));
                default: throw new RtException("unexpected message from init");
            }
        }
    }

    /// <summary>Once the container is ready: the pty master goes to the console socket or to the caller.</summary>
    private void HandOffTerminal(LaunchCompat x)
    {
        if (x.Master < 0) return;
        if (x.ConsoleSocket >= 0) Terminal.SendMaster(x.ConsoleSocket, x.Master);
        else if (_o.OnTerminal is { } take)
        {
            int m = x.Master;
            x.Master = -1; // the caller owns it now
            take(m);
        }
    }

    /// <summary>Poststart hooks on the host (failures are warnings).</summary>
    private static void RunPoststart(LaunchCompat x, int pid) =>
        Oci.Hooks.Run("poststart", x.Hooks?.Poststart, Oci.Hooks.State(x.Id, pid, "running", x.Bundle, x.Annotations), x.Warn ?? (_ => { }));

    /// <summary>
    /// The poststart hooks of a created container, at <see cref="Start"/>. The spec runs them after the process is
    /// executed: init reads the start byte, runs any startContainer hooks and execs, so wait until the pid's
    /// executable is no longer init's (<paramref name="initExe"/>) — or the process is gone — first.
    /// </summary>
    private void RunPoststart(ContainerRecord rec, SpecHooks hooks, string initExe)
    {
        var end = Environment.TickCount64 + 60_000;
        while (initExe.Length > 0 && ContainerRecord.IsAlive(rec.Pid, rec.PidStartTime) && ExeOf(rec.Pid) == initExe && Environment.TickCount64 < end)
            Thread.Sleep(1);
        Oci.Hooks.Run("poststart", hooks.Poststart, Oci.Hooks.State(rec.Id, rec.Pid, "running", rec.Bundle, rec.Annotations), _o.Warn ?? (_ => { }));
    }

    /// <summary>The target of <c>/proc/PID/exe</c>, or "" when unreadable.</summary>
    private static string ExeOf(int pid)
    {
        try { return new FileInfo("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/exe").LinkTarget ?? ""; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }

    /// <summary>Poststop hooks after a delete (failures are warnings). The hooks are read from the bundle's
    /// config.json, which the spec says must not change while the container exists.</summary>
    private static void RunPoststop(SpecHooks? hooks, string id, string bundle, Dictionary<string, string>? annotations, Action<string>? warn)
    {
        if (!Oci.Hooks.Any(hooks?.Poststop)) return;
        Oci.Hooks.Run("poststop", hooks!.Poststop, Oci.Hooks.State(id, 0, "stopped", bundle, annotations), warn ?? (_ => { }));
    }

    /// <summary>The hooks of the bundle at <paramref name="bundleDir"/>, or null when it has none or is gone.</summary>
    private SpecHooks? ReadHooks(string bundleDir)
    {
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(bundleDir, "config.json"));
            // Most bundles have no hooks: skip parsing (a spec with Docker's seccomp profile is ~40 KB of JSON).
            if (bytes.AsSpan().IndexOf("\"hooks\""u8) < 0) return null;
            return Oci.Bundle.Parse(bytes).Hooks;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RtException)
        {
            _o.Warn?.Invoke($"cannot read the hooks of bundle {bundleDir}: {e.Message}");
            return null;
        }
    }
}
