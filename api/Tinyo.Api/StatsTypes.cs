using System.Text.Json.Serialization;

namespace Tinyo.Api;

/// <summary>One replica's usage as its node reads it (GET /v1/stats): counters since the replica started, so a rate
/// needs two samples (<c>tio stats</c> takes them a second apart).</summary>
/// <param name="App">The app.</param>
/// <param name="Replica">The replica's container name (<c>APP-N</c>).</param>
/// <param name="State">Its state, as in <c>tio ls</c>.</param>
/// <param name="Restarts">How often it was restarted.</param>
/// <param name="CpuNanos">CPU time used, nanoseconds; null when it is not running.</param>
/// <param name="MemoryBytes">Memory in use without droppable page cache; null when it is not running.</param>
/// <param name="MemoryLimit">Its memory limit, or null.</param>
/// <param name="RxBytes">Bytes it received on its cluster network; null without one (<c>network: none|host</c>).</param>
/// <param name="TxBytes">Bytes it sent on its cluster network; null without one.</param>
public sealed record ReplicaStats(string App, string Replica, string State, int Restarts, long? CpuNanos, long? MemoryBytes,
    long? MemoryLimit, long? RxBytes, long? TxBytes);

/// <summary>GET /v1/stats[?app=NAME]: the replicas that run on the answering node, when it read them.</summary>
/// <param name="Node">The node.</param>
/// <param name="Sampled">When the counters were read.</param>
/// <param name="Replicas">One entry per replica of this node.</param>
public sealed record NodeStats(string Node, DateTimeOffset Sampled, List<ReplicaStats> Replicas);

/// <summary>GET (and POST, to make a new one) /v1/metrics/token: the node's read-only token for <c>/metrics</c>.</summary>
/// <param name="Token">The token (<c>Authorization: Bearer TOKEN</c>, Prometheus' <c>authorization.credentials</c>).</param>
/// <param name="Created">When it was made.</param>
public sealed record MetricsToken(string Token, DateTimeOffset Created);

/// <summary>Source-generated JSON of the stats and metrics bodies (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeStats))]
[JsonSerializable(typeof(MetricsToken))]
public sealed partial class StatsJson : JsonSerializerContext;
