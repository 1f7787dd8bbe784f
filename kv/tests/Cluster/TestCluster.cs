using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>Cluster tests start real processes on fixed ports and kill them: never in parallel with each other.</summary>
[CollectionDefinition("cluster", DisableParallelization = true)]
public sealed class ClusterCollection;

/// <summary>One tinyokv process on loopback with its own data directory; killed by PID on dispose.</summary>
public sealed class Member : IDisposable
{
    private readonly StringBuilder log = new();
    private Process? process;

    public Member(string name, string dataDir, int peerPort, int clientPort)
    {
        Name = name;
        DataDir = dataDir;
        PeerAddress = $"127.0.0.1:{peerPort}";
        ClientAddress = $"127.0.0.1:{clientPort}";
    }

    public string Name { get; }
    public string DataDir { get; }
    public string PeerAddress { get; }
    public string ClientAddress { get; }
    public bool Running => process is { HasExited: false };

    public string Log
    {
        get
        {
            lock (log) return log.ToString();
        }
    }

    /// <summary>Starts this process as a learner of the members at <paramref name="join"/> (no peer port).</summary>
    public void StartLearner(string token, string join, params string[] extra)
    {
        var args = new List<string>
        {
            "serve", "--learner", "--name", Name, "--data-dir", DataDir, "--listen-client", ClientAddress, "--join", join, "--token", token,
        };
        args.AddRange(extra);
        process = Binary.Start(args, line =>
        {
            lock (log) log.AppendLine(line);
        });
    }

    public void Start(string token, params string[] extra)
    {
        var args = new List<string>
        {
            "serve", "--name", Name, "--data-dir", DataDir, "--listen-peer", PeerAddress, "--listen-client", ClientAddress,
            "--token", token,
        };
        args.AddRange(extra);
        process = Binary.Start(args, line =>
        {
            lock (log) log.AppendLine(line);
        });
    }

    /// <summary>SIGTERM (a clean stop), by PID.</summary>
    public void Terminate()
    {
        if (process is not { HasExited: false } p) return;
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", p.Id.ToString()]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Waits for the process to exit on its own; its exit code, or null on timeout.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        if (process is null) return null;
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public void Kill()
    {
        try
        {
            if (process is { HasExited: false } p)
            {
                p.Kill();
                p.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
        process?.Dispose();
        process = null;
    }

    public void Dispose() => Kill();
}

/// <summary>Locates the tinyokv binary: $TINYO_BIN/tinyokv when set, else the built tinyokv.dll run by dotnet.</summary>
public static class Binary
{
    private static readonly Lazy<(string File, string? Dll)> Path_ = new(Locate);

    /// <summary>The command line that runs tinyokv: the binary, or dotnet and the dll.</summary>
    public static string[] Command => Path_.Value.Dll is { } dll ? [Path_.Value.File, dll] : [Path_.Value.File];

    private static (string, string?) Locate()
    {
        if (Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } bin && File.Exists(Path.Combine(bin, "tinyokv")))
            return (Path.Combine(bin, "tinyokv"), null);
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tinyo.slnx"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("repository root not found");
        var dll = new DirectoryInfo(Path.Combine(dir.FullName, "artifacts", "bin", "tinyokv"))
            .EnumerateFiles("tinyokv.dll", SearchOption.AllDirectories)
            .OrderByDescending(f => f.LastWriteTimeUtc)
            .FirstOrDefault() ?? throw new InvalidOperationException("tinyokv.dll not built");
        return ("dotnet", dll.FullName);
    }

    /// <summary>tinyokv (the AOT binary, or the built dll under dotnet) with all three standard streams redirected.</summary>
    private static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var (file, dll) = Path_.Value;
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (dll is not null) psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static Process Start(IEnumerable<string> args, Action<string> onLine)
    {
        var psi = StartInfo(args);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) onLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) onLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Runs the CLI to completion; returns exit code, stdout, stderr.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(IEnumerable<string> args, string? stdin = null)
    {
        var psi = StartInfo(args);
        using var p = Process.Start(psi)!;
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill();
            throw;
        }
        return (p.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A group of tinyokv members in a temp directory, with helpers to form, break and heal it.</summary>
public sealed class TestCluster : IAsyncDisposable
{
    public const string Token = "test-cluster-token";
    private readonly string root = Directory.CreateTempSubdirectory("tinyokv-test-").FullName;
    private readonly List<KvClient> clients = [];

    public List<Member> Members { get; } = [];

    /// <summary>Learner processes (serve --learner): not Raft members, so kept apart from <see cref="Members"/>.</summary>
    public List<Member> Learners { get; } = [];

    /// <summary>A learner process (not started) with its own data directory and client port (and a peer port if promotable).</summary>
    public Member NewLearner(bool promotable = false)
    {
        var i = Learners.Count + 1;
        var l = new Member($"l{i}", Path.Combine(root, $"l{i}"), promotable ? FreePort() : 0, FreePort());
        Learners.Add(l);
        return l;
    }

    /// <summary>The client addresses of every member, comma-separated (a learner's --join).</summary>
    public string MemberEndpoints => string.Join(",", Members.Select(m => m.ClientAddress));

    /// <summary>TLS for the test's own clients when the members serve TLS.</summary>
    public KvClientTls? Tls { get; private init; }

    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public Member NewMember()
    {
        var i = Members.Count + 1;
        var m = new Member($"m{i}", Path.Combine(root, $"m{i}"), FreePort(), FreePort());
        Members.Add(m);
        return m;
    }

    /// <summary>Starts a bootstrapped first member and joins the others one at a time.</summary>
    public static Task<TestCluster> StartAsync(int size, params string[] extra) => StartAsync(size, null, extra);

    /// <summary>As <see cref="StartAsync(int, string[])"/>, with members serving TLS that clients reach with <paramref name="tls"/>.</summary>
    public static async Task<TestCluster> StartAsync(int size, KvClientTls? tls, params string[] extra)
    {
        var c = new TestCluster { Tls = tls };
        try
        {
            var first = c.NewMember();
            first.Start(Token, [.. extra, "--bootstrap"]);
            await c.WaitForMembersAsync(1);
            for (var i = 1; i < size; i++)
            {
                var m = c.NewMember();
                m.Start(Token, [.. extra, "--join", first.ClientAddress]);
                await c.WaitForMembersAsync(i + 1);
            }
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    public KvClient Client(params Member[] only)
    {
        var list = only.Length > 0 ? only : Members.Where(m => m.Running).ToArray();
        var client = new KvClient(new KvClientOptions
        {
            Endpoints = list.Select(m => Endpoints.Parse(m.ClientAddress)).ToList(),
            Token = Token,
            RequestTimeout = TimeSpan.FromSeconds(20),
            Tls = Tls,
        });
        clients.Add(client);
        return client;
    }

    /// <summary>Waits until a running member reports <paramref name="count"/> members, all available, and a leader.</summary>
    public async Task WaitForMembersAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            foreach (var m in Members.Where(m => m.Running))
            {
                try
                {
                    await using var client = new KvClient(new KvClientOptions
                    {
                        Endpoints = [Endpoints.Parse(m.ClientAddress)],
                        Token = Token,
                        RequestTimeout = TimeSpan.FromSeconds(1),
                        ConnectTimeout = TimeSpan.FromMilliseconds(300),
                        Tls = Tls,
                    });
                    var list = (await client.MemberListAsync()).Where(x => !x.Learner).ToList(); // Raft members only
                    last = string.Join("; ", list);
                    if (list.Count == count && list.All(x => x.Status == "available") && list.Any(x => x.IsLeader)) return;
                }
                catch (KvException e)
                {
                    last = e.Message;
                }
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"cluster did not reach {count} available members with a leader: {last}\n{Logs()}");
    }

    /// <summary>The current leader among running members.</summary>
    public async Task<Member> LeaderAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var m in Members.Where(m => m.Running))
            {
                try
                {
                    await using var client = new KvClient(new KvClientOptions
                    {
                        Endpoints = [Endpoints.Parse(m.ClientAddress)], Token = Token, RequestTimeout = TimeSpan.FromSeconds(1), Tls = Tls,
                    });
                    var s = await client.StatusAsync();
                    if (s.Role == "leader") return m;
                }
                catch (KvException)
                {
                }
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("no leader\n" + Logs());
    }

    public string Logs() => string.Join("\n", Members.Concat(Learners).Select(m => $"--- {m.Name}\n{m.Log}"));

    public async ValueTask DisposeAsync()
    {
        // Processes first: nothing below may keep a member alive if it throws.
        foreach (var m in Members) m.Dispose();
        foreach (var l in Learners) l.Dispose();
        foreach (var c in clients)
        {
            try
            {
                await c.DisposeAsync();
            }
            catch (Exception)
            {
                // a client of a dead member: nothing to release
            }
        }
        if (Environment.GetEnvironmentVariable("TINYOKV_TEST_LOGS") is { Length: > 0 } logDir)
        {
            Directory.CreateDirectory(logDir);
            await File.WriteAllTextAsync(Path.Combine(logDir, Path.GetFileName(root) + ".log"), Logs());
        }
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
