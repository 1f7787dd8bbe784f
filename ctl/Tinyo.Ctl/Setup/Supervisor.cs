using System.Diagnostics;
using System.Net.Sockets;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// Starts and stops the node's daemons as detached processes (PID 1 here is not systemd): each runs in its own
/// session (setsid), stdin from /dev/null, stdout and stderr appended to <c>logs/NAME.log</c>, its pid in
/// <c>run/NAME.pid</c>. A pid file is trusted only if /proc/PID/cmdline is that component run with this root, so
/// a recycled pid is never signalled.
/// </summary>
public sealed class Supervisor(NodeLayout layout)
{
    /// <summary>The layout.</summary>
    public NodeLayout Layout => layout;

    /// <summary>The pid of the component if it runs for this root, else null (a stale pid file is removed).</summary>
    public int? Running(string component)
    {
        var file = layout.PidFile(component);
        if (!File.Exists(file)) return null;
        if (!int.TryParse(File.ReadAllText(file).Trim(), out var pid) || pid <= 1 || !IsOurs(pid, component))
        {
            File.Delete(file);
            return null;
        }
        return pid;
    }

    /// <summary>True when pid is alive (not a zombie) and its command line is the component with our root.</summary>
    public bool IsOurs(int pid, string component)
    {
        if (!Alive(pid)) return false;
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return args.Any(a => Path.GetFileName(a) is var n && (n == component || n == component + ".dll"))
                   && args.Any(a => a == layout.Root || a.StartsWith(layout.Root + "/", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>True when the process exists and is not a zombie.</summary>
    public static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts <paramref name="command"/> detached. <paramref name="env"/> entries are added to the environment (used
    /// for the KV token, which must not appear on a command line). Returns the daemon's pid.
    /// </summary>
    public int Start(string component, IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? env = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        var dirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(Path.GetDirectoryName(layout.PidFile(component))!, dirMode);
        Directory.CreateDirectory(Path.GetDirectoryName(layout.LogFile(component))!, dirMode);
        // sh starts the daemon as a background job: without job control it is not a group leader, so setsid(1)
        // execs it in a new session in place (no extra fork) and $! is the daemon's own pid.
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("log=$1; shift; setsid \"$@\" >>\"$log\" 2>&1 </dev/null & echo $!");
        psi.ArgumentList.Add("tio-start");
        psi.ArgumentList.Add(layout.LogFile(component));
        foreach (var a in command) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new CtlException($"cannot start {component}");
        var output = p.StandardOutput.ReadToEnd();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !int.TryParse(output.Trim(), out var pid))
            throw new CtlException($"cannot start {component}: {err.Trim()}");
        File.WriteAllText(layout.PidFile(component), pid + "\n");
        return pid;
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>; true when it had to be killed.</summary>
    public bool Stop(string component, int pid, TimeSpan grace)
    {
        var killed = false;
        if (IsOurs(pid, component))
        {
            Linux.Libc.Kill(pid, Linux.Libc.SIGTERM);
            var deadline = DateTime.UtcNow + grace;
            while (Alive(pid) && DateTime.UtcNow < deadline) Thread.Sleep(50);
            if (Alive(pid))
            {
                Linux.Libc.Kill(pid, Linux.Libc.SIGKILL);
                killed = true;
                var hard = DateTime.UtcNow.AddSeconds(5);
                while (Alive(pid) && DateTime.UtcNow < hard) Thread.Sleep(20);
            }
        }
        File.Delete(layout.PidFile(component));
        return killed;
    }

    /// <summary>Waits until a TCP port accepts connections or the process dies.</summary>
    public static async Task<bool> WaitTcpAsync(string host, int port, int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!Alive(pid)) return false;
            try
            {
                using var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(host, port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        return false;
    }

    /// <summary>The last lines of a component's log, to explain a failed start.</summary>
    public string LogTail(string component, int lines = 10)
    {
        try
        {
            var all = File.ReadAllLines(layout.LogFile(component));
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// The command that runs a component: <c>$TINYO_&lt;NAME&gt;_BIN</c> (e.g. TINYO_NODE_BIN, TINYO_KV_BIN), else
    /// <c>$TINYO_BIN/NAME</c>, else NAME next to this executable. A path ending in .dll is run with dotnet.
    /// </summary>
    public static List<string> Locate(string component, string envName)
    {
        string? path = Environment.GetEnvironmentVariable(envName) is { Length: > 0 } e ? e : null;
        if (path is null && Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } bin) path = Path.Combine(bin, component);
        if (path is null && Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) != "dotnet")
            path = Path.Combine(Path.GetDirectoryName(self)!, component);
        if (path is null || !File.Exists(path))
            throw new CtlException($"cannot find {component}{(path is null ? "" : " at " + path)}: install it next to tio or set TINYO_BIN or {envName}");
        path = Path.GetFullPath(path);
        return path.EndsWith(".dll", StringComparison.Ordinal) ? ["dotnet", path] : [path];
    }
}
