using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Bench.Env;
using Tinyo.Linux;

namespace Tinyo.Bench.Kv;

/// <summary>One member process of a store under test.</summary>
public sealed record KvMember(string Name, Process Process, string DataDir);

/// <summary>
/// A 3-member cluster of one store (tinyokv or etcd), started as real processes on loopback with their own data
/// directories under a temp root, and the client the load generator drives it with. Disposing stops every member
/// (SIGTERM, then SIGKILL by pid) and deletes the root; <see cref="KillAll"/> is the last resort at process exit.
/// </summary>
public abstract class KvCluster : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    protected readonly List<KvMember> members = [];

    protected KvCluster(string root, byte[][] keys, byte[] value)
    {
        Root = root;
        Keys = keys;
        Value = value;
        Directory.CreateDirectory(root);
    }

    public abstract string Name { get; }

    public string Root { get; }

    protected byte[][] Keys { get; }

    protected byte[] Value { get; }

    public IReadOnlyList<KvMember> Members => members;

    /// <summary>Starts the members and waits until there is a leader and every member is in the group.</summary>
    public abstract Task StartAsync(CancellationToken token);

    /// <summary>Puts key number <paramref name="i"/> (mod the key space) with the benchmark value.</summary>
    public abstract Task PutAsync(int i, CancellationToken token);

    /// <summary>Reads key number <paramref name="i"/> (mod the key space).</summary>
    public abstract Task GetAsync(int i, bool serializable, CancellationToken token);

    /// <summary>Resident set size of each member now (VmRSS), KiB.</summary>
    public IReadOnlyList<long> RssKb() => members.Select(m => StatusField(m.Process.Id, "VmRSS:")).ToList();

    /// <summary>Bytes on disk (allocated blocks, as <c>du</c>) and apparent size of each member's data directory.</summary>
    public IReadOnlyList<(long Allocated, long Apparent)> DiskBytes() => members.Select(m =>
        (Du(m.DataDir, apparent: false), Du(m.DataDir, apparent: true))).ToList();

    /// <summary>Starts FILE ARGS with its stdout/stderr appended to LOG (no pipes to drain), tracked for cleanup.</summary>
    protected KvMember Spawn(string name, string dataDir, string file, params string[] args)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$BENCH_LOG\" 2>&1");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["BENCH_LOG"] = Path.Combine(Root, name + ".log");
        ConfigureEnvironment(psi);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        Live[p.Id] = p;
        var m = new KvMember(name, p, dataDir);
        members.Add(m);
        return m;
    }

    protected virtual void ConfigureEnvironment(ProcessStartInfo psi)
    {
    }

    /// <summary>Throws with the member's log when it has exited.</summary>
    protected void CheckAlive()
    {
        foreach (var m in members)
        {
            if (m.Process.HasExited)
            {
                var log = Path.Combine(Root, m.Name + ".log");
                throw new InvalidOperationException($"{Name} member {m.Name} exited ({m.Process.ExitCode}): " +
                    (File.Exists(log) ? File.ReadAllText(log).Trim() : "no log"));
            }
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var m in members)
        {
            try { if (!m.Process.HasExited) Libc.Kill(m.Process.Id, 15); } catch (InvalidOperationException) { }
        }
        foreach (var m in members)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await m.Process.WaitForExitAsync(cts.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { Libc.Kill(m.Process.Id, 9); await m.Process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); }
            Live.TryRemove(m.Process.Id, out _);
            m.Process.Dispose();
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }

    /// <summary>SIGKILLs every member still running (process exit, Ctrl-C after the normal path gave up).</summary>
    public static void KillAll()
    {
        foreach (var (pid, p) in Live)
        {
            try { if (!p.HasExited) Libc.Kill(pid, 9); } catch (InvalidOperationException) { }
        }
    }

    /// <summary>A loopback port free right now.</summary>
    protected static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static byte[] Key(int i) => Encoding.ASCII.GetBytes($"bench/{i:D8}");

    private static long StatusField(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return -1;
    }

    private static long Du(string dir, bool apparent)
    {
        var o = apparent ? Cmd.Run("du", "-s", "--apparent-size", "--block-size=1", dir) : Cmd.Run("du", "-s", "--block-size=1", dir);
        return long.Parse(o.Split('\t')[0], CultureInfo.InvariantCulture);
    }
}
