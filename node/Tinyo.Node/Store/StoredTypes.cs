using System.Text.Json.Serialization;

namespace Tinyo.Node.Store;

/// <summary>A user as stored: the password only as a PBKDF2-SHA256 hash.</summary>
public sealed record StoredUser(string Name, string Salt, string Hash, int Iterations, DateTimeOffset Created);

/// <summary>A login token as stored under the SHA-256 of the token.</summary>
public sealed record StoredToken(string User, DateTimeOffset Expires);

/// <summary>A secret as stored: AES-256-GCM under the node key.</summary>
public sealed record StoredSecret(string Nonce, string Ciphertext, string Tag, DateTimeOffset Created);

/// <summary>Source-generated JSON for what the node stores in the KV.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StoredUser))]
[JsonSerializable(typeof(StoredToken))]
[JsonSerializable(typeof(StoredSecret))]
internal sealed partial class StoreJson : JsonSerializerContext;
