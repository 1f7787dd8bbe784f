using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Tinyo.Bench.Env;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Benchmarks;

/// <summary>
/// Layer unpack throughput: the same gzip layer extracted into a fresh directory each iteration. Peers: GNU
/// <c>tar -xzf</c>, and the same followed by <c>sync -f</c> (syncfs, as tinyort does before it publishes a layer).
/// Ours: <c>tinyort load</c> of an OCI layout holding that layer (the NativeAOT binary: digest check, unpack, syncfs,
/// store records) and <see cref="LayerUnpacker"/> called in this (JIT) process. MB/s is of uncompressed tar bytes.
/// </summary>
[IterationCount(9)]
public class Unpack
{
    private TempDir? _work;
    private string _layer = "";
    private string _layout = "";
    private string _dest = "";
    private int _n;

    /// <summary>busybox: the test image's layer (≈2 MB); python: /usr/lib/python3.* (≈50 MB, many small files).</summary>
    [Params("busybox", "python")]
    public string Layer { get; set; } = "busybox";

    [GlobalSetup]
    public void Setup()
    {
        _work = new TempDir("tinyo-bench-unpack-");
        var tar = Path.Combine(_work.Path, "layer.tar");
        if (Layer == "busybox")
        {
            var img = BusyboxImage.Get();
            Cmd.Run("sh", "-c", "gzip -dc \"$1\" > \"$2\"", "sh", img.BlobPath(img.LayerDigest), tar);
        }
        else
        {
            var py = Directory.GetDirectories("/usr/lib", "python3.*").Where(d => !d.EndsWith("-dist")).OrderDescending().FirstOrDefault()
                ?? throw new InvalidOperationException("no /usr/lib/python3.* tree to make the large layer from");
            Cmd.Run("tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", "/", "-cf", tar, py.TrimStart('/'));
        }
        _layer = tar + ".gz";
        Cmd.Run("sh", "-c", "gzip -6 -n -c \"$1\" > \"$2\"", "sh", tar, _layer);
        ThroughputColumn.Bytes[Layer] = new FileInfo(tar).Length;
        _layout = MakeLayout(Path.Combine(_work.Path, "layout"), tar, _layer);
        File.Delete(tar);
    }

    /// <summary>An OCI image layout with one image whose only layer is <paramref name="gz"/>.</summary>
    private static string MakeLayout(string dir, string tar, string gz)
    {
        var blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        string Put(byte[] data)
        {
            var h = Convert.ToHexStringLower(SHA256.HashData(data));
            File.WriteAllBytes(Path.Combine(blobs, h), data);
            return "sha256:" + h;
        }
        string diffId;
        using (var f = File.OpenRead(tar)) diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        string layerDigest;
        using (var f = File.OpenRead(gz)) layerDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        File.Copy(gz, Path.Combine(blobs, layerDigest[7..]));
        var config = System.Text.Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64", ["os"] = "linux",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("sh") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffId) },
        }.ToJsonString());
        var configDigest = Put(config);
        var manifest = System.Text.Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2, ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = configDigest, ["size"] = config.Length },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip", ["digest"] = layerDigest, ["size"] = new FileInfo(gz).Length }),
        }.ToJsonString());
        var manifestDigest = Put(manifest);
        File.WriteAllText(Path.Combine(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        File.WriteAllText(Path.Combine(dir, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = manifestDigest, ["size"] = manifest.Length,
                ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = "latest" },
            }),
        }.ToJsonString());
        return dir;
    }

    [IterationSetup]
    public void FreshDir()
    {
        _dest = Path.Combine(_work!.Path, "out-" + ++_n);
        Directory.CreateDirectory(_dest);
    }

    [IterationCleanup]
    public void DropDir() => ImageGc.DeleteTree(_dest);

    [Benchmark(Baseline = true, Description = "tar -xzf")]
    public void Tar() => Cmd.Run("tar", "-xzf", _layer, "-C", _dest);

    [Benchmark(Description = "tar -xzf; sync -f")]
    public void TarSync()
    {
        Cmd.Run("tar", "-xzf", _layer, "-C", _dest);
        Cmd.Run("sync", "-f", _dest);
    }

    [Benchmark(Description = "tinyort load (OCI layout: verify+unpack+syncfs)")]
    public void TinyortLoad() => Cmd.Run(Peers.Tinyort, "--root", _dest, "load", "--name", "bench/layer", _layout);

    [Benchmark(Description = "LayerUnpacker in-process (JIT, syncfs)")]
    public void InProcess()
    {
        using var f = File.OpenRead(_layer);
        LayerUnpacker.UnpackAsync(f, "application/vnd.oci.image.layer.v1.tar+gzip", Path.Combine(_dest, "layer")).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _work?.Dispose();
}
