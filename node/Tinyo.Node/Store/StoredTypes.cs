using System.Text.Json.Serialization;

namespace Tinyo.Node.Store;

/// <summary>
/// A user as stored: the password only as a PBKDF2-SHA256 hash. <see cref="Id"/> is random and never reused, so a
/// user removed and created again under the same name is another user (null: stored before ids existed).
/// <see cref="Role"/> and <see cref="Clusters"/>: Security/Access (null role: admin, as every user was before roles).
/// </summary>
public sealed record StoredUser(string Name, string Salt, string Hash, int Iterations, DateTimeOffset Created, string? Id = null,
    string? Role = null, IReadOnlyList<string>? Clusters = null);

/// <summary>
/// A login token as stored under the SHA-256 of the token; valid only while its user exists with the same
/// <see cref="UserId"/> (null: issued before ids existed, and accepted only for a user without one).
/// </summary>
public sealed record StoredToken(string User, DateTimeOffset Expires, string? UserId = null);

/// <summary>A secret as stored: AES-256-GCM under the node key.</summary>
public sealed record StoredSecret(string Nonce, string Ciphertext, string Tag, DateTimeOffset Created);

/// <summary>Source-generated JSON for what the node stores in the KV.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StoredUser))]
[JsonSerializable(typeof(StoredToken))]
[JsonSerializable(typeof(StoredSecret))]
internal sealed partial class StoreJson : JsonSerializerContext;
