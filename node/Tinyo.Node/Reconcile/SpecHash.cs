using System.Security.Cryptography;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The fingerprint a container is labelled with (annotation <c>tinyo.spec</c>): SHA-256 of the app's spec as stored
/// (source-generated JSON, so key order is fixed), first 16 hex digits. A container whose label differs from the
/// desired spec's is replaced; an equal one is left alone, which makes re-applying the same file a no-op. Secrets
/// enter by name only: changing a secret's value does not replace containers (their files are rewritten in place).
/// </summary>
internal static class SpecHash
{
    public static string Of(AppSpec spec)
        => Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(spec, ApiJson.Default.AppSpec)))[..16];
}
