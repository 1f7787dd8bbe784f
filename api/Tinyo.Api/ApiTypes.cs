using System.Text.Json.Serialization;
using Tinyo.Api.Statefile;

namespace Tinyo.Api;

/// <summary>An error answer: <c>{"error": "...", "code": "..."}</c>, plus the position for statefile errors.</summary>
public sealed record ErrorBody(string Error, string Code, string? File = null, long? Line = null, long? Column = null, string? Field = null);

/// <summary>GET /v1/version.</summary>
public sealed record VersionInfo(string Version, string Api);

/// <summary>GET /v1/status.</summary>
public sealed record NodeStatus(string Node, string? Net, string Version, long UptimeSeconds, string KvEndpoint, long KvRevision, int Apps, int Users, int Secrets, string? TlsPin = null);

/// <summary>POST /v1/init: creates the net and its first (admin) user; only on the unix socket, only once.</summary>
public sealed record InitRequest(string Net, string User, string Password);

/// <summary>POST /v1/login.</summary>
public sealed record LoginRequest(string User, string Password);

/// <summary>A bearer token and when it expires.</summary>
public sealed record LoginResponse(string Token, string User, DateTimeOffset Expires);

/// <summary>
/// POST /v1/users. <see cref="Role"/>: <c>admin</c> (the default: users, nodes, clusters, everything),
/// <c>deployer</c> (apply, remove, logs and exec of apps in <see cref="Clusters"/>; reads) or <c>viewer</c> (reads only).
/// </summary>
public sealed record UserRequest(string Name, string Password, string? Role = null, IReadOnlyList<string>? Clusters = null);

/// <summary>A user as listed (never the hash): its role and, for a deployer, the clusters it deploys to.</summary>
public sealed record UserInfo(string Name, DateTimeOffset Created, string Role = "admin", IReadOnlyList<string>? Clusters = null);

/// <summary>GET/PUT /v1/binds: the host paths a non-admin may bind into a container (each with everything below it).</summary>
public sealed record BindPolicy(IReadOnlyList<string> Paths);

/// <summary>A net: a cluster, and its network (each node gives it a bridge, a subnet, a DNS responder).
/// <see cref="Egress"/> false: its replicas reach nothing beyond their cluster (null or true: masqueraded egress).</summary>
public sealed record NetInfo(string Name, DateTimeOffset Created, bool? Egress = null);

/// <summary>POST /v1/nets; <see cref="Egress"/> false for a cluster whose replicas may not reach beyond it.</summary>
public sealed record NetRequest(string Name, bool? Egress = null);

/// <summary>PUT /v1/secrets/NAME: the value, base64.</summary>
public sealed record SecretRequest(string Value);

/// <summary>A secret as listed: never its value.</summary>
public sealed record SecretInfo(string Name, DateTimeOffset Created);

/// <summary>
/// POST /v1/apps: the statefile's text; the node validates it again. <see cref="BaseDir"/> is the statefile's
/// directory on the client, for relative mount sources (meaningful when client and node share the host).
/// </summary>
public sealed record ApplyRequest(string File, string Yaml, string? BaseDir = null);

/// <summary>The outcome of an apply, per app.</summary>
public sealed record ApplyResult(string Name, string Action);

/// <summary>
/// An app's desired and observed state. <see cref="State"/>: <c>pending</c> (no node reported yet), <c>pulling</c>,
/// <c>running</c>, <c>starting</c>, <c>restarting</c>, <c>exited</c> or <c>error</c> (then <see cref="Error"/> says why).
/// </summary>
public sealed record AppInfo(string Name, string Image, string State, IReadOnlyList<string> Ports, int Replicas, int Restarts, DateTimeOffset Created, DateTimeOffset Updated,
    string? Error = null, IReadOnlyList<ContainerStatus>? Containers = null);

/// <summary>
/// One container as its node observed it. <see cref="ExitCode"/>, <see cref="ExitSignal"/> and
/// <see cref="OomKilled"/> describe its last exit and stay while it runs again after a restart (why it restarted);
/// null before any exit, or when unknown (a re-adopted container on a kernel before 6.15). <see cref="DuplicatedFrom"/>
/// names the replica it was duplicated from (<c>tio dup</c>, scale-up), null when it was started from the image.
/// <see cref="Node"/>: the node it runs on (set by <c>GET /v1/apps</c>); a replica no node can take is listed with
/// state <c>pending</c> and the reason in <see cref="LastError"/>. <see cref="Path"/>: how its TCP to replicas of
/// its cluster on the same node travels — <c>shortcut</c> (eBPF, socket to socket) or <c>bridge (why)</c> (veth +
/// bridge); <see cref="Socket"/>: the Unix socket it exposes (<c>expose: unix</c>) as its cluster's containers reach it.
/// </summary>
public sealed record ContainerStatus(string Name, string? Id, string State, int Pid, int Restarts, int? ExitCode, DateTimeOffset? Started,
    string? LastError = null, string? Health = null, int? ExitSignal = null, bool? OomKilled = null, string? Address = null, string? DuplicatedFrom = null, string? Node = null,
    string? Path = null, string? Socket = null);

/// <summary>What a node writes to <c>/tinyo/status/NODE/APP</c>: its observed state of the app (never secrets).</summary>
public sealed record AppStatus(string App, string Node, string Spec, string State, string? Error, IReadOnlyList<ContainerStatus> Containers, DateTimeOffset Updated);

/// <summary>POST /v1/apps/NAME/dup: add <see cref="Count"/> replicas to the app, duplicated from a running one.</summary>
public sealed record DupRequest(int Count);

/// <summary>POST /v1/backup: the passphrase the backup file is encrypted under (at least 8 characters).</summary>
public sealed record BackupRequest(string Passphrase);

/// <summary>What <c>tio dup</c> did: the app's replica count before and after, and the replica the new ones are
/// duplicated from (null when none runs here: they start from the image).</summary>
public sealed record DupResponse(string App, int Before, int Replicas, string? From);

/// <summary>An app as stored under /tinyo/apps/NAME.</summary>
public sealed record AppRecord(AppSpec Spec, string File, DateTimeOffset Created, DateTimeOffset Updated);

/// <summary>Source-generated JSON for every API body (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(VersionInfo))]
[JsonSerializable(typeof(NodeStatus))]
[JsonSerializable(typeof(InitRequest))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(LoginResponse))]
[JsonSerializable(typeof(UserRequest))]
[JsonSerializable(typeof(BindPolicy))]
[JsonSerializable(typeof(List<UserInfo>))]
[JsonSerializable(typeof(NetRequest))]
[JsonSerializable(typeof(List<NetInfo>))]
[JsonSerializable(typeof(NetInfo))]
[JsonSerializable(typeof(SecretRequest))]
[JsonSerializable(typeof(List<SecretInfo>))]
[JsonSerializable(typeof(ApplyRequest))]
[JsonSerializable(typeof(List<ApplyResult>))]
[JsonSerializable(typeof(List<AppInfo>))]
[JsonSerializable(typeof(AppRecord))]
[JsonSerializable(typeof(DupRequest))]
[JsonSerializable(typeof(BackupRequest))]
[JsonSerializable(typeof(DupResponse))]
[JsonSerializable(typeof(AppSpec))]
[JsonSerializable(typeof(AppStatus))]
[JsonSerializable(typeof(ExecRequest))]
public sealed partial class ApiJson : JsonSerializerContext;
