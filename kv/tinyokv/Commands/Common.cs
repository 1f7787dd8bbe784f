using System.CommandLine;
using System.Text.Json.Serialization;
using Tinyo.Kv;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>Options every client verb shares, and the one-line error convention.</summary>
internal static class Common
{
    public static readonly Option<string> Endpoints = new("--endpoints")
    {
        Description = "Client addresses of members, comma-separated (any one will do)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TINYOKV_ENDPOINTS") ?? "127.0.0.1:2379",
        Recursive = true,
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "Cluster token (default: $TINYOKV_TOKEN)",
        Recursive = true,
    };

    public static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = "Read the cluster token from this file (keeps it out of the process list)",
        Recursive = true,
    };

    public static readonly Option<string> Output = new("--output", "-o")
    {
        Description = "Output format: simple or json",
        DefaultValueFactory = _ => "simple",
        Recursive = true,
    };

    public static readonly Option<double> Timeout = new("--timeout")
    {
        Description = "Seconds a request may take, retries included",
        DefaultValueFactory = _ => 15,
        Recursive = true,
    };

    public static readonly Option<string?> CaCert = new("--cacert")
    {
        Description = "TLS: CA bundle (PEM) that signs the members' certificates (default: $TINYOKV_CACERT); enables TLS",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TINYOKV_CACERT"),
        Recursive = true,
    };

    public static readonly Option<string?> Cert = new("--cert")
    {
        Description = "TLS: client certificate (PEM) for members with client-cert-auth (default: $TINYOKV_CERT)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TINYOKV_CERT"),
        Recursive = true,
    };

    public static readonly Option<string?> Key = new("--key")
    {
        Description = "TLS: the client certificate's private key (PEM) (default: $TINYOKV_KEY)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TINYOKV_KEY"),
        Recursive = true,
    };

    static Common()
    {
        Output.AcceptOnlyFromAmong("simple", "json");
    }

    public static string ResolveToken(ParseResult pr)
    {
        if (pr.GetValue(TokenFile) is { } file)
        {
            if (!File.Exists(file)) throw new KvException($"token file {file} does not exist");
            string text;
            try
            {
                text = File.ReadAllText(file).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new KvException($"cannot read token file {file}: {e.Message}");
            }
            return text.Length > 0 ? text : throw new KvException($"token file {file} is empty");
        }
        return pr.GetValue(Token) ?? Environment.GetEnvironmentVariable("TINYOKV_TOKEN")
               ?? throw new KvException("no cluster token: pass --token, --token-file or set TINYOKV_TOKEN");
    }

    public static KvClient Client(ParseResult pr) => new(new KvClientOptions
    {
        Endpoints = Protocol.Endpoints.ParseList(pr.GetValue(Endpoints)!),
        Token = ResolveToken(pr),
        RequestTimeout = TimeSpan.FromSeconds(pr.GetValue(Timeout)),
        Tls = ClientTls(pr),
    });

    /// <summary>TLS when any of --cacert, --cert, --key is given (as etcdctl).</summary>
    public static KvClientTls? ClientTls(ParseResult pr)
    {
        var (ca, cert, key) = (pr.GetValue(CaCert), pr.GetValue(Cert), pr.GetValue(Key));
        return ca is null && cert is null && key is null ? null : KvClientTls.Load(ca, cert, key);
    }

    public static bool Json(ParseResult pr) => pr.GetValue(Output) == "json";

    /// <summary>Runs a verb: a <see cref="KvException"/> becomes one line on stderr and exit code 1.</summary>
    public static void Run(Command command, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (pr, ct) =>
        {
            try
            {
                return await action(pr, ct);
            }
            catch (KvException e)
            {
                Console.Error.WriteLine($"tinyokv: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("tinyokv: interrupted");
                return 130;
            }
            catch (Exception e)
            {
                // A bug, not bad input: still one line, with the type to report it by.
                Console.Error.WriteLine($"tinyokv: internal error: {e.GetType().Name}: {e.Message}");
                if (Environment.GetEnvironmentVariable("TINYOKV_DEBUG") is not null) Console.Error.WriteLine(e.StackTrace);
                return 70;
            }
        });
    }

    public static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    public static string Str(byte[] b) => System.Text.Encoding.UTF8.GetString(b);

    public static KvJson ToJson(Mvcc.KeyValue kv) => new(Str(kv.Key), Str(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease);

    public static void PrintJson<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
        => Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(value, info));
}

/// <summary>A key-value in JSON output (key and value as UTF-8 text).</summary>
internal sealed record KvJson(string Key, string Value, long CreateRevision, long ModRevision, long Version, long Lease);

/// <summary>A range result in JSON output.</summary>
internal sealed record RangeJson(long Revision, long Count, bool More, List<KvJson> Kvs);

/// <summary>A write result in JSON output.</summary>
internal sealed record WriteJson(long Revision, long? Deleted = null, bool? Succeeded = null, List<KvJson>? PrevKvs = null);

/// <summary>A watch event in JSON output.</summary>
internal sealed record WatchEventJson(string Type, long Revision, KvJson Kv, KvJson? PrevKv);

/// <summary>A lease in JSON output.</summary>
internal sealed record LeaseJson(string Id, long Ttl);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RangeJson))]
[JsonSerializable(typeof(WriteJson))]
[JsonSerializable(typeof(List<LeaseJson>))]
[JsonSerializable(typeof(LeaseJson))]
[JsonSerializable(typeof(WatchEventJson))]
[JsonSerializable(typeof(List<MemberInfo>))]
[JsonSerializable(typeof(StatusInfo))]
internal sealed partial class CliJson : JsonSerializerContext;
