using System.Diagnostics;
using System.Globalization;

namespace Tinyo.Node.Tests.Fixtures;

/// <summary>
/// A server process in a network namespace of its own (with only <c>lo</c>, as a container has):
/// <c>unshare --net --pid --fork --kill-child sh -c 'ip link set lo up; exec busybox …'</c>. Dispose SIGKILLs the
/// unshare process (by pid), which takes the namespace's pid 1 and so every process in it — and the namespace — along.
/// </summary>
public sealed class NetnsServer : IDisposable
{
    private readonly Process process;

    private NetnsServer(Process p, int port)
    {
        process = p;
        Port = port;
    }

    /// <summary>The port the server listens on inside its namespace.</summary>
    public int Port { get; }

    /// <summary>The pid of a process inside the namespace (the unshare process: it unshared, then forked).</summary>
    public int Pid => process.Id;

    /// <summary>An echo server: every connection gets <c>cat</c>, which echoes until end of input, then closes.</summary>
    public static NetnsServer Echo(int port) => Start(port, $"exec busybox nc -ll -p {port} -e /bin/cat");

    /// <summary>A server that answers each connection with <paramref name="text"/> and closes.</summary>
    public static NetnsServer Banner(int port, string text) => Start(port, $"exec busybox nc -ll -p {port} -e /bin/echo {text}");

    private static NetnsServer Start(int port, string script)
    {
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var a in (string[])["--net", "--pid", "--fork", "--kill-child", "sh", "-c", "ip link set lo up && " + script]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var s = new NetnsServer(p, port);
        try
        {
            // /proc/PID/net/tcp{,6} list the sockets of PID's network namespace: wait for the LISTEN row (state 0A).
            var hex = ":" + port.ToString("X4", CultureInfo.InvariantCulture) + " ";
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (true)
            {
                if (p.HasExited) throw new InvalidOperationException($"netns server exited with {p.ExitCode}");
                try
                {
                    // busybox nc listens on [::] (dual stack): tcp6.
                    foreach (var table in (string[])["tcp", "tcp6"])
                        foreach (var line in File.ReadLines($"/proc/{p.Id}/net/{table}"))
                            if (line.Contains(hex, StringComparison.Ordinal) && line.Contains(" 0A ", StringComparison.Ordinal)) return s;
                }
                catch (IOException) { }
                if (DateTime.UtcNow > deadline) throw new TimeoutException("netns server did not listen");
                Thread.Sleep(20);
            }
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(); // SIGKILL of our own unshare process, by pid; --kill-child takes the rest
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        process.Dispose();
    }
}
