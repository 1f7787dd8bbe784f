using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// A small read-only registry serving an OCI layout over the distribution API on loopback, for what a real
/// registry will not do: serve a tampered blob, trickle a blob slowly, count requests and record Range headers.
/// </summary>
public sealed class FakeRegistry : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string _layout;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FakeRegistry(string layout)
    {
        _layout = layout;
        Port = LoopbackListener.Start(_listener);
        _loop = Task.Run(Loop);
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Blob digests whose content is served with one byte flipped.</summary>
    public ConcurrentDictionary<string, bool> Tampered { get; } = new();

    /// <summary>Blob digests served at <see cref="BytesPerSecond"/>.</summary>
    public ConcurrentDictionary<string, bool> Slow { get; } = new();

    public int BytesPerSecond { get; set; } = 100_000;

    /// <summary>Blob digests of which only the first half is sent, then nothing (the connection stays open).</summary>
    public ConcurrentDictionary<string, bool> Stalled { get; } = new();

    /// <summary>Manifest bytes served for a reference (tag or digest) instead of the layout's.</summary>
    public ConcurrentDictionary<string, byte[]> ManifestOverrides { get; } = new();

    /// <summary>GET count per blob digest.</summary>
    public ConcurrentDictionary<string, int> BlobGets { get; } = new();

    /// <summary>Range start offsets requested per blob digest.</summary>
    public ConcurrentQueue<(string Digest, long From)> Ranges { get; } = new();

    private async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => Serve(ctx));
        }
    }

    private async Task Serve(HttpListenerContext ctx)
    {
        var resp = ctx.Response;
        try
        {
            var path = ctx.Request.Url!.AbsolutePath;
            if (path == "/v2/" || path == "/v2")
            {
                resp.StatusCode = 200;
                resp.Close();
                return;
            }
            var mi = path.IndexOf("/manifests/", StringComparison.Ordinal);
            var bi = path.IndexOf("/blobs/", StringComparison.Ordinal);
            if (mi > 0)
            {
                var reference = path[(mi + 11)..];
                if (ManifestOverrides.TryGetValue(reference, out var forged))
                {
                    resp.ContentType = "application/vnd.oci.image.manifest.v1+json";
                    resp.ContentLength64 = forged.Length;
                    await resp.OutputStream.WriteAsync(forged);
                    resp.Close();
                    return;
                }
                var (digest, mediaType) = Resolve(reference);
                if (digest is null)
                {
                    await Error(resp, 404, "MANIFEST_UNKNOWN", "manifest unknown");
                    return;
                }
                var bytes = await File.ReadAllBytesAsync(BlobFile(digest));
                resp.ContentType = mediaType;
                resp.Headers["Docker-Content-Digest"] = digest;
                resp.ContentLength64 = bytes.Length;
                await resp.OutputStream.WriteAsync(bytes);
                resp.Close();
                return;
            }
            if (bi > 0)
            {
                var digest = path[(bi + 7)..];
                var file = BlobFile(digest);
                if (!digest.StartsWith("sha256:", StringComparison.Ordinal) || digest.Length != 71 || !File.Exists(file))
                {
                    await Error(resp, 404, "BLOB_UNKNOWN", "blob unknown");
                    return;
                }
                BlobGets.AddOrUpdate(digest, 1, (_, n) => n + 1);
                var bytes = await File.ReadAllBytesAsync(file);
                if (Tampered.ContainsKey(digest)) bytes[bytes.Length / 2] ^= 0x5a;
                long from = 0;
                var range = ctx.Request.Headers["Range"];
                if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-')
                    && long.TryParse(range.AsSpan(6, range.Length - 7), out var f) && f < bytes.Length)
                {
                    from = f;
                    Ranges.Enqueue((digest, from));
                    resp.StatusCode = 206;
                    resp.Headers["Content-Range"] = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
                }
                resp.ContentType = "application/octet-stream";
                resp.ContentLength64 = bytes.Length - from;
                if (Stalled.ContainsKey(digest))
                {
                    var half = (int)((bytes.Length - from) / 2);
                    await resp.OutputStream.WriteAsync(bytes.AsMemory((int)from, half), _stop.Token);
                    await resp.OutputStream.FlushAsync(_stop.Token);
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }
                if (Slow.ContainsKey(digest))
                {
                    var chunk = Math.Max(1, BytesPerSecond / 20);
                    for (var o = (int)from; o < bytes.Length; o += chunk)
                    {
                        await resp.OutputStream.WriteAsync(bytes.AsMemory(o, Math.Min(chunk, bytes.Length - o)), _stop.Token);
                        await resp.OutputStream.FlushAsync(_stop.Token);
                        await Task.Delay(50, _stop.Token);
                    }
                }
                else
                {
                    await resp.OutputStream.WriteAsync(bytes.AsMemory((int)from));
                }
                resp.Close();
                return;
            }
            await Error(resp, 404, "NAME_UNKNOWN", "not found");
        }
        catch (Exception) // client went away (killed pull) or we are stopping
        {
            try
            {
                resp.Abort();
            }
            catch (Exception)
            {
            }
        }
    }

    private (string? Digest, string? MediaType) Resolve(string reference)
    {
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(_layout, "index.json")));
        if (reference.StartsWith("sha256:", StringComparison.Ordinal))
        {
            if (!File.Exists(BlobFile(reference))) return (null, null);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(BlobFile(reference)));
            return (reference, doc.RootElement.GetProperty("mediaType").GetString());
        }
        foreach (var m in index.RootElement.GetProperty("manifests").EnumerateArray())
        {
            if (m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var n)
                && n.GetString() == reference)
                return (m.GetProperty("digest").GetString(), m.GetProperty("mediaType").GetString());
        }
        return (null, null);
    }

    private string BlobFile(string digest) => Path.Combine(_layout, "blobs", "sha256", digest.Length > 7 ? digest[7..] : "x");

    private static async Task Error(HttpListenerResponse resp, int status, string code, string message)
    {
        resp.StatusCode = status;
        resp.ContentType = "application/json";
        var body = System.Text.Encoding.UTF8.GetBytes($"{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"{message}\"}}]}}");
        await resp.OutputStream.WriteAsync(body);
        resp.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        LoopbackListener.Close(_listener);
        try
        {
            _loop.Wait(2000);
        }
        catch (AggregateException)
        {
        }
    }
}
