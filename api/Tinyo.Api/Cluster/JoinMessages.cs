using System.Text.Json.Serialization;

namespace Tinyo.Api.Cluster;

/// <summary>
/// <c>POST /v1/cluster/challenge</c>: a joining node asks for what it needs to prove it knows <paramref name="User"/>'s
/// password without sending it.
/// </summary>
/// <param name="User">The admin user whose credentials the join uses.</param>
/// <param name="ClientNonce">32 random bytes, hex.</param>
public sealed record JoinChallengeRequest(string User, string ClientNonce);

/// <summary>The answer to <see cref="JoinChallengeRequest"/>.</summary>
/// <param name="Salt">The user's PBKDF2 salt (base64): the joiner derives the same key the node stores.</param>
/// <param name="Iterations">PBKDF2-SHA256 iterations.</param>
/// <param name="ServerNonce">32 random bytes, hex; valid once, for a minute.</param>
/// <param name="Time">The node's clock: the joiner refuses to go on when its own is far off.</param>
public sealed record JoinChallenge(string Salt, int Iterations, string ServerNonce, DateTimeOffset Time);

/// <summary><c>POST /v1/cluster/join</c>: the join proper.</summary>
/// <param name="User">As in the challenge.</param>
/// <param name="ClientNonce">As in the challenge.</param>
/// <param name="ServerNonce">The challenge's.</param>
/// <param name="Proof">HMAC proving the password, bound to both nonces and the TLS key the joiner saw (<see cref="JoinProof"/>), hex.</param>
/// <param name="Net">The cluster the joiner means to join: refused when the node belongs to another.</param>
/// <param name="Name">The joining node's name.</param>
/// <param name="Address">Its cluster address (IPv4 or IPv6), where its KV member and API listen.</param>
/// <param name="Csr">Its PKCS#10 certificate signing request (PEM): the CA signs the public key, names are the CA's.</param>
/// <param name="Time">The joiner's clock.</param>
/// <param name="Cpus">Its CPUs.</param>
/// <param name="MemoryBytes">Its memory.</param>
/// <param name="Labels">Its labels (key=value).</param>
public sealed record JoinRequest(string User, string ClientNonce, string ServerNonce, string Proof, string Net, string Name, string Address,
    string Csr, DateTimeOffset Time, int Cpus, long MemoryBytes, IReadOnlyDictionary<string, string>? Labels);

/// <summary>The node's answer to an accepted <see cref="JoinRequest"/>.</summary>
/// <param name="Net">The cluster's name.</param>
/// <param name="Role">"voter" (a Raft member of tinyokv) or "learner" (a non-voting copy, beyond five voters).</param>
/// <param name="CaCert">The cluster CA's certificate (PEM).</param>
/// <param name="NodeCert">The joiner's certificate, signed by the CA (PEM).</param>
/// <param name="KvToken">The KV's cluster token (inside the TLS connection, to an authenticated joiner only).</param>
/// <param name="KvEndpoints">Client addresses of the KV's members (ip:port).</param>
/// <param name="Time">The node's clock.</param>
/// <param name="ServerProof">HMAC proving the node knows the password too, over everything above (<see cref="JoinProof"/>), hex.</param>
public sealed record JoinResponse(string Net, string Role, string CaCert, string NodeCert, string KvToken, IReadOnlyList<string> KvEndpoints,
    DateTimeOffset Time, string ServerProof);

/// <summary>A node as <c>GET /v1/nodes</c> (<c>tio node ls</c>) lists it.</summary>
/// <param name="Name">Its name.</param>
/// <param name="State">"ready" while its liveness lease is renewed, else "lost".</param>
/// <param name="Address">Its cluster address ("local": a single node on loopback).</param>
/// <param name="Cpus">CPUs.</param>
/// <param name="MemoryBytes">Memory.</param>
/// <param name="Replicas">Replicas it reports running or starting.</param>
/// <param name="Labels">Its labels.</param>
/// <param name="Joined">When it registered first.</param>
public sealed record NodeInfo(string Name, string State, string Address, int Cpus, long MemoryBytes, int Replicas,
    IReadOnlyDictionary<string, string>? Labels, DateTimeOffset Joined);

/// <summary>A node's record in the KV registry (<c>/tinyo/nodes/NAME</c>).</summary>
/// <param name="Name">Its name.</param>
/// <param name="Address">Its cluster address.</param>
/// <param name="ApiPort">Its API's TCP port (0: none).</param>
/// <param name="Cpus">CPUs.</param>
/// <param name="MemoryBytes">Memory.</param>
/// <param name="Labels">Labels.</param>
/// <param name="Joined">First registration.</param>
public sealed record NodeRecord(string Name, string Address, int ApiPort, int Cpus, long MemoryBytes, IReadOnlyDictionary<string, string>? Labels,
    DateTimeOffset Joined);

/// <summary>Source-generated JSON for the cluster messages (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JoinChallengeRequest))]
[JsonSerializable(typeof(JoinChallenge))]
[JsonSerializable(typeof(JoinRequest))]
[JsonSerializable(typeof(JoinResponse))]
[JsonSerializable(typeof(List<NodeInfo>))]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(DrainResult))]
public sealed partial class ClusterJson : JsonSerializerContext;
