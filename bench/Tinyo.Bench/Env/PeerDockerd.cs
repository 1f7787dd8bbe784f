using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Env;

/// <summary>
/// A private Docker engine as a benchmark peer: <c>scripts/peer-dockerd.sh start DIR</c> (own data/exec roots and
/// socket under DIR, its own bridge, no iptables) and <c>stop DIR</c>, which removes every trace (containers, mounts,
/// docker's cgroups, the bridge, /run paths it created). Stopped on Dispose, once; Dispose is thread-safe (a signal
/// handler and the normal cleanup may both call it: the second waits for the first's stop to finish).
/// </summary>
public sealed class PeerDockerd : IDisposable
{
    private readonly string _dir;
    private readonly string _bridge;
    private readonly Lock _stopLock = new();
    private bool _stopped;

    private PeerDockerd(string dir, string bridge, string host)
    {
        _dir = dir;
        _bridge = bridge;
        Host = host;
    }

    /// <summary>The engine's API address, <c>unix://DIR/docker.sock</c>.</summary>
    public string Host { get; }

    private static string Script => Path.Combine(TestPaths.RepoRoot, "scripts", "peer-dockerd.sh");

    /// <summary>
    /// Starts an engine under DIR on bridge BRIDGE (CIDR: its address; both distinct from bench/first-byte.sh's
    /// tiodk0, so the two can run side by side). On failure the script has already stopped it again.
    /// </summary>
    public static PeerDockerd Start(string dir, string bridge, string cidr)
    {
        string output;
        try
        {
            output = Cmd.Run("env", $"BRIDGE={bridge}", $"BRIDGE_CIDR={cidr}", Script, "start", dir);
        }
        catch
        {
            Stop(dir, bridge);
            throw;
        }
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("DOCKER_HOST=", StringComparison.Ordinal));
        if (line is null)
        {
            Stop(dir, bridge);
            throw new InvalidOperationException($"peer-dockerd.sh start printed no DOCKER_HOST: {output.Trim()}");
        }
        return new PeerDockerd(dir, bridge, line["DOCKER_HOST=".Length..].Trim());
    }

    /// <summary>The docker CLI's arguments for this engine: <c>-H HOST ARGS…</c>.</summary>
    public string[] Docker(params string[] args) => ["-H", Host, .. args];

    /// <summary>Loads the busybox test image's OCI layout into the engine as NAME (via a docker-archive tarball).</summary>
    public void LoadBusybox(string name, string workDir)
    {
        var img = BusyboxImage.Get();
        var tar = Path.Combine(workDir, "busybox-docker.tar");
        Cmd.Run("skopeo", "copy", "-q", $"oci:{img.Layout}:{img.Tag}", $"docker-archive:{tar}:{name}");
        Cmd.Run("docker", Docker("load", "-q", "-i", tar));
        File.Delete(tar);
    }

    /// <summary>Stops the engine and removes everything it made (once; later calls do nothing).</summary>
    public void Dispose()
    {
        // A signal handler and GlobalCleanup can race here: the second caller waits until the first one's stop is
        // complete, so nobody deletes DIR (where the script records the bridge it made) while the script still runs.
        lock (_stopLock)
        {
            if (_stopped) return;
            Stop(_dir, _bridge);
            _stopped = true;
        }
    }

    private static void Stop(string dir, string bridge) => Cmd.TryRun("env", $"BRIDGE={bridge}", Script, "stop", dir);
}
