using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Kv.Client;

namespace Tinyo.Node.Tests.Network;

/// <summary>
/// A real one-member tinyokv on loopback ports with a temp data directory: <c>$TINYO_BIN/tinyokv</c> when set, else
/// the built tinyokv.dll under dotnet. Killed by pid (and its directory removed) on dispose; <see cref="Restart"/>
/// kills it with SIGKILL and starts it again on the same data.
/// </summary>
public sealed class KvProcess : IAsyncDisposable
{
    private const string Token = "ipam-test-token";
    private readonly string dir = Directory.CreateTempSubdirectory("tinyo-ipam-kv-").FullName;
    private readonly int peerPort = FreePort(), clientPort = FreePort();
    private readonly StringBuilder log = new();
    private readonly List<KvClient> clients = [];
    private Process? process;

    public static async Task<KvProcess> StartAsync()
    {
        var kv = new KvProcess();
        await kv.StartProcessAsync();
        return kv;
    }

    /// <summary>A new client (its own connection: a separate allocator).</summary>
    public KvClient Client()
    {
        var c = new KvClient(new KvClientOptions { Endpoints = [new IPEndPoint(IPAddress.Loopback, clientPort)], Token = Token });
        lock (clients) clients.Add(c);
        return c;
    }

    public async Task RestartAsync()
    {
        Kill();
        await StartProcessAsync();
    }

    private async Task StartProcessAsync()
    {
        var psi = Locate();
        foreach (var a in (string[])["serve", "--name", "m1", "--data-dir", Path.Combine(dir, "data"), "--listen-peer", $"127.0.0.1:{peerPort}",
                     "--listen-client", $"127.0.0.1:{clientPort}", "--token", Token, "--bootstrap", "--idle-trim", "0"])
            psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var probe = Client();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await probe.PutAsync("/probe"u8.ToArray(), "1"u8.ToArray());
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (Exception e)
            {
                string l;
                lock (log) l = log.ToString();
                throw new InvalidOperationException($"tinyokv did not come up: {e.Message}\n{l}");
            }
        }
    }

    private static ProcessStartInfo Locate()
    {
        if (Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } bin && File.Exists(Path.Combine(bin, "tinyokv")))
            return new ProcessStartInfo(Path.Combine(bin, "tinyokv"));
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "tinyo.slnx"))) root = root.Parent;
        var dll = new DirectoryInfo(Path.Combine(root!.FullName, "artifacts", "bin", "tinyokv"))
            .EnumerateFiles("tinyokv.dll", SearchOption.AllDirectories).OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()
            ?? throw new InvalidOperationException("tinyokv not built (set TINYO_BIN or build kv/tinyokv)");
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(dll.FullName);
        return psi;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private void Kill()
    {
        try
        {
            if (process is { HasExited: false } p)
            {
                p.Kill(); // SIGKILL of our own child, by pid
                p.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException) { }
        process?.Dispose();
        process = null;
    }

    public async ValueTask DisposeAsync()
    {
        List<KvClient> cs;
        lock (clients) cs = [.. clients];
        foreach (var c in cs) await c.DisposeAsync();
        Kill();
        Directory.Delete(dir, true);
    }
}
