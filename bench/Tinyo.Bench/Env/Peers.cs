using System.Text.Json.Nodes;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Env;

/// <summary>The programs compared and the shared set-up: binaries, the busybox rootfs, OCI bundles, podman roots.</summary>
public static class Peers
{
    /// <summary>The NativeAOT tinyort under test ($TINYO_BIN/tinyort, default out/bin/tinyort).</summary>
    public static string Tinyort
    {
        get
        {
            var bin = Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } b ? b : Path.Combine(TestPaths.RepoRoot, "out", "bin");
            var p = Path.Combine(bin, "tinyort");
            return File.Exists(p) ? p : throw new InvalidOperationException($"{p} not found: run `make build` (or set TINYO_BIN)");
        }
    }

    /// <summary>
    /// crun 1.8 refuses this host's hybrid cgroup layout (v1 controllers plus an empty cgroup2 at
    /// /sys/fs/cgroup/unified); it runs in a private mount namespace where that cgroup2 mount is gone. The wrapper's
    /// own cost is measured separately (<see cref="CrunWrapperOnly"/>) so it can be subtracted.
    /// </summary>
    public static string[] Crun(params string[] args) =>
        ["-m", "sh", "-c", "umount /sys/fs/cgroup/unified && exec crun \"$@\"", "crun", .. args];

    /// <summary>The crun wrapper with <c>/bin/true</c> in place of crun.</summary>
    public static readonly string[] CrunWrapperOnly = ["-m", "sh", "-c", "umount /sys/fs/cgroup/unified && exec /bin/true"];

    /// <summary>podman's global flags for a private temp store (vfs: no mounts to leave behind), no systemd, no network.</summary>
    public static string[] Podman(string dir, params string[] args) =>
    [
        "--root", Path.Combine(dir, "root"), "--runroot", Path.Combine(dir, "run"), "--tmpdir", Path.Combine(dir, "tmp"),
        "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "runc", .. args,
    ];

    /// <summary>Unpacks the busybox test image's layer into DIR/rootfs; returns that path.</summary>
    public static string BusyboxRootfs(string dir)
    {
        var img = BusyboxImage.Get();
        var rootfs = Path.Combine(dir, "rootfs");
        Directory.CreateDirectory(rootfs);
        Cmd.Run("tar", "-xzf", img.BlobPath(img.LayerDigest), "-C", rootfs);
        return rootfs;
    }

    /// <summary>
    /// Writes DIR/config.json: runc's default spec (`runc spec`, a neutral starting point every runtime here accepts)
    /// with the given process, no terminal, the shared read-only rootfs by absolute path and an optional cgroupsPath.
    /// </summary>
    public static string Bundle(string dir, string rootfs, string[] args, string? cgroupsPath = null)
    {
        Directory.CreateDirectory(dir);
        var spec = JsonNode.Parse(SpecTemplate.Value)!;
        spec["process"]!["terminal"] = false;
        spec["process"]!["args"] = new JsonArray([.. args.Select(a => (JsonNode)a)]);
        spec["root"]!["path"] = rootfs;
        spec["root"]!["readonly"] = true;
        if (cgroupsPath is not null) spec["linux"]!["cgroupsPath"] = cgroupsPath;
        File.WriteAllText(Path.Combine(dir, "config.json"), spec.ToJsonString());
        return dir;
    }

    private static readonly Lazy<string> SpecTemplate = new(() =>
    {
        using var t = new TempDir("tinyo-bench-spec-");
        Cmd.Run("runc", "spec", "--bundle", t.Path);
        return File.ReadAllText(Path.Combine(t.Path, "config.json"));
    });

    /// <summary>Lazily unmounts whatever is still mounted under DIR (a failed podman run leaves its shm), deepest first.</summary>
    public static void UnmountUnder(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        var points = File.ReadAllLines("/proc/self/mountinfo")
            .Select(l => l.Split(' ')[4].Replace("\\040", " "))
            .Where(m => m.StartsWith(prefix, StringComparison.Ordinal))
            .OrderByDescending(m => m.Length);
        foreach (var m in points) Cmd.TryRun("umount", "-l", m);
    }

    /// <summary>Removes /sys/fs/cgroup/*/PREFIX and everything below it (children first); they are empty by now.</summary>
    public static void RemoveCgroups(string prefix)
    {
        foreach (var ctrl in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var top = Path.Combine(ctrl, prefix);
            if (!Directory.Exists(top)) continue;
            var dirs = Directory.EnumerateDirectories(top, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(top);
            foreach (var d in dirs)
            {
                try { Directory.Delete(d); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }
}
