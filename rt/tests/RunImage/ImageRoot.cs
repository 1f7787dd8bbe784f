using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary>
/// A temp runtime root with the busybox image loaded as <c>busybox</c>, driven through the tinyort binary
/// ($TINYO_BIN's AOT build when set). Dispose removes every container (rm -f), then the root, and checks that no
/// mount, cgroup or directory of them is left.
/// </summary>
public sealed class ImageRoot : IDisposable
{
    public string Path { get; }
    public RuntimeRoot Root { get; }

    public ImageRoot() : this(null)
    {
    }

    /// <summary>A root in <paramref name="parent"/> (a small file system, say) instead of a new temp directory.</summary>
    public ImageRoot(string? parent)
    {
        Path = parent is null ? Directory.CreateTempSubdirectory("tinyo-run-").FullName : System.IO.Path.Combine(parent, "root");
        Directory.CreateDirectory(Path);
        Root = new RuntimeRoot(Path);
        var (code, o, e) = Cli("load", BusyboxImage.Get().Layout, "--name", "busybox");
        Assert.True(code == 0, $"load failed: {o}{e}");
    }

    /// <summary>Runs tinyort with <c>--root</c> this root.</summary>
    public (int Code, string Out, string Err) Cli(params string[] args) =>
        TestPaths.Run(TestPaths.Tinyort, ["--root", Path, .. args], timeoutMs: 60_000);

    /// <summary>Loads a variant of busybox whose image config is changed by <paramref name="edit"/>, named <paramref name="name"/>.</summary>
    public void LoadVariant(string name, Action<JsonObject> edit) => LoadVariant(name, edit, 0);

    /// <summary>Like <see cref="LoadVariant(string, Action{JsonObject})"/>, with <paramref name="extraLayers"/> more
    /// layers on top, layer i adding the file <c>/layers/i</c> (and each overriding <c>/layers/top</c>).</summary>
    public void LoadVariant(string name, Action<JsonObject> edit, int extraLayers, Action<System.Formats.Tar.TarWriter>? topLayer = null)
    {
        var src = BusyboxImage.Get();
        var layout = System.IO.Path.Combine(Path, "layout-" + name.Replace('/', '_').Replace(':', '_'));
        var blobs = System.IO.Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var f in Directory.GetFiles(System.IO.Path.Combine(src.Layout, "blobs", "sha256")))
            File.Copy(f, System.IO.Path.Combine(blobs, System.IO.Path.GetFileName(f)));
        File.Copy(System.IO.Path.Combine(src.Layout, "oci-layout"), System.IO.Path.Combine(layout, "oci-layout"));
        var config = JsonNode.Parse(File.ReadAllBytes(src.BlobPath(src.ConfigDigest)))!.AsObject();
        edit(config["config"]!.AsObject());
        var manifest = JsonNode.Parse(File.ReadAllBytes(src.BlobPath(src.ManifestDigest)))!.AsObject();
        for (int i = 0; i < extraLayers + (topLayer is null ? 0 : 1); i++)
        {
            var tar = new MemoryStream();
            using (var w = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
            {
                if (i == extraLayers) topLayer!(w);
                else foreach (var (n, content) in new[] { ($"layers/{i}", $"{i}\n"), ("layers/top", $"{i}\n") })
                {
                    var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, n)
                    { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)), Mode = (UnixFileMode)0x1A4 };
                    w.WriteEntry(entry);
                }
            }
            var raw = tar.ToArray();
            var gz = new MemoryStream();
            using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
            var (ld, ls) = WriteBytes(blobs, gz.ToArray());
            config["rootfs"]!["diff_ids"]!.AsArray().Add((JsonNode)JsonValue.Create("sha256:" + Convert.ToHexStringLower(SHA256.HashData(raw))));
            manifest["layers"]!.AsArray().Add((JsonNode)new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip", ["digest"] = ld, ["size"] = ls,
            });
        }
        var (cd, cs) = Write(blobs, config.ToJsonString());
        manifest["config"]!["digest"] = cd;
        manifest["config"]!["size"] = cs;
        var (md, ms) = Write(blobs, manifest.ToJsonString());
        var index = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(src.Layout, "index.json")))!.AsObject();
        index["manifests"]![0]!["digest"] = md;
        index["manifests"]![0]!["size"] = ms;
        File.WriteAllText(System.IO.Path.Combine(layout, "index.json"), index.ToJsonString());
        var (code, o, e) = Cli("load", layout, "--name", name);
        Assert.True(code == 0, $"load failed: {o}{e}");
        ImageGc.DeleteTree(layout);
    }

    private static (string Digest, long Size) Write(string blobs, string json) => WriteBytes(blobs, System.Text.Encoding.UTF8.GetBytes(json));

    private static (string Digest, long Size) WriteBytes(string blobs, byte[] bytes)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(System.IO.Path.Combine(blobs, hex), bytes);
        return ("sha256:" + hex, bytes.Length);
    }

    /// <summary>Ids of every container in this root.</summary>
    public List<string> ContainerIds() =>
        Directory.Exists(Root.Containers) ? [.. Directory.GetDirectories(Root.Containers).Select(System.IO.Path.GetFileName).OfType<string>()] : [];

    /// <summary>Asserts nothing of container <paramref name="id"/> remains: directory, name, cgroup, mount.</summary>
    public void AssertGone(string id)
    {
        Assert.False(Directory.Exists(System.IO.Path.Combine(Root.Containers, id)), $"directory of {id} left behind");
        foreach (var c in new[] { "memory", "cpu", "pids", "devices", "cpuacct", "freezer", "blkio" })
            Assert.False(Directory.Exists($"/sys/fs/cgroup/{c}/tinyo/{id}"), $"cgroup {c}/tinyo/{id} left behind");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/tinyo/{id}"), $"cgroup v2 tinyo/{id} left behind");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(Path));
        var names = System.IO.Path.Combine(Path, "names");
        if (Directory.Exists(names))
            foreach (var n in Directory.GetFileSystemEntries(names))
                Assert.NotEqual(id, new FileInfo(n).LinkTarget);
    }

    /// <summary>Asserts the root has no container at all (and no names, mounts or upper dirs).</summary>
    public void AssertNoContainers()
    {
        Assert.Empty(ContainerIds());
        var names = System.IO.Path.Combine(Path, "names");
        if (Directory.Exists(names)) Assert.Empty(Directory.GetFileSystemEntries(names));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(Path));
    }

    public void Dispose()
    {
        try
        {
            foreach (var id in ContainerIds())
            {
                Cli("rm", "-f", id);
                AssertGone(id);
            }
        }
        finally
        {
            Runtime.ExitMonitorTests.KillMonitor(Root); // started by `run -d` (it idles out in 3 s)
            ImageGc.DeleteTree(Path);
        }
    }
}
