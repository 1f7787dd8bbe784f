using System.Diagnostics;
using System.Text;
using Tinyo.Kv;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

// Usage: Tinyo.Kv.Bench put|get --target tinyokv=ADDR[,ADDR]|etcd=URL [--total N] [--clients C] [--value-size B] [--serializable]
// Prints one line: throughput and latency percentiles. Bounded: it sends --total requests and stops.
var op = args.Length > 0 ? args[0] : throw new ArgumentException("put or get");
string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
var target = Arg("--target", "tinyokv=127.0.0.1:2379");
var total = int.Parse(Arg("--total", "10000"));
var clients = int.Parse(Arg("--clients", "16"));
var value = new byte[int.Parse(Arg("--value-size", "256"))];
Random.Shared.NextBytes(value);
var serializable = args.Contains("--serializable");
const int space = 10_000;
static byte[] Key(int i) => Encoding.ASCII.GetBytes($"bench/{i:D8}");

Func<byte[], bool, Task> send;
IAsyncDisposable? dispose = null;
if (target.StartsWith("etcd=", StringComparison.Ordinal))
{
    var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = new Uri(target[5..]) };
    var v64 = Convert.ToBase64String(value);
    send = async (key, put) =>
    {
        var k64 = Convert.ToBase64String(key);
        var json = put ? $"{{\"key\":\"{k64}\",\"value\":\"{v64}\"}}"
            : serializable ? $"{{\"key\":\"{k64}\",\"serializable\":true}}" : $"{{\"key\":\"{k64}\"}}";
        using var resp = await http.PostAsync(put ? "/v3/kv/put" : "/v3/kv/range", new StringContent(json, Encoding.UTF8, "application/json"));
        if (!resp.IsSuccessStatusCode) throw new KvException($"etcd answered {(int)resp.StatusCode}");
        await resp.Content.ReadAsByteArrayAsync();
    };
}
else
{
    var client = new KvClient(new KvClientOptions
    {
        Endpoints = Endpoints.ParseList(target["tinyokv=".Length..]),
        Token = Environment.GetEnvironmentVariable("TINYOKV_TOKEN") ?? throw new KvException("set TINYOKV_TOKEN"),
    });
    dispose = client;
    send = (key, put) => put ? client.PutAsync(key, value) : client.GetAsync(key, serializable);
}

if (op == "get")
{
    for (var i = 0; i < space; i += clients)
        await Task.WhenAll(Enumerable.Range(i, Math.Min(clients, space - i)).Select(j => send(Key(j), true)));
}
var latencies = new double[total];
var next = -1;
var sw = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
{
    int i;
    while ((i = Interlocked.Increment(ref next)) < total)
    {
        var t0 = Stopwatch.GetTimestamp();
        await send(Key(i % space), op == "put");
        latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
})));
sw.Stop();
Array.Sort(latencies);
Console.WriteLine($"{target.Split('=')[0],-7} {op}{(serializable ? " (serializable)" : "")} x{total}, {clients} concurrent, {value.Length} B: " +
                  $"{total / sw.Elapsed.TotalSeconds:F0} req/s, p50 {latencies[total / 2]:F2} ms, p99 {latencies[Math.Min(total - 1, (int)(total * 0.99))]:F2} ms, max {latencies[^1]:F2} ms");
if (dispose is not null) await dispose.DisposeAsync();
