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
/// The replica count does not enter at all (it is hashed as 1): scaling an app up or down keeps the replicas that
/// run (and a scale-up can duplicate one of them, <see cref="ReplicaDuplicate"/>).
/// </summary>
internal static class SpecHash
{
    public static string Of(AppSpec spec)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(spec, ApiJson.Default.AppSpec);
        if (spec.Replicas != 1 && JsonSerializer.SerializeToNode(spec, ApiJson.Default.AppSpec) is System.Text.Json.Nodes.JsonObject o)
        {
            o["replicas"] = 1;
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = ApiJson.Default.Options.Encoder })) o.WriteTo(w);
            json = ms.ToArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(json))[..16];
    }
}
