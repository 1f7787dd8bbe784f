using System.Net;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Api.Statefile;
using Tinyo.Node.Api;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Parsing and validation of the two join bodies (<c>POST /v1/cluster/challenge</c> and <c>/join</c>), pure and
/// bounded, so the fuzz target (<c>join</c>) exercises exactly what the node runs on bytes from anyone who can reach
/// its TCP port. Errors are <see cref="ApiRequestException"/> with status 400 and a message naming the field.
/// </summary>
public static class JoinRequests
{
    /// <summary>Largest join body accepted (a CSR is under 1 KiB; labels are bounded below).</summary>
    public const int MaxBodyBytes = 16 << 10;

    /// <summary>Largest CSR accepted (PEM text).</summary>
    public const int MaxCsrChars = 4096;

    /// <summary>At most this many labels, each key ≤ 63 and value ≤ 253 characters.</summary>
    public const int MaxLabels = 32;

    /// <summary>Parses and checks a challenge request.</summary>
    public static JoinChallengeRequest Challenge(byte[] body)
    {
        var r = Parse(body, ClusterJson.Default.JoinChallengeRequest);
        ApiRequests.ValidName(r.User, "user");
        Nonce(r.ClientNonce, "client_nonce");
        return r;
    }

    /// <summary>Parses and checks a join request; the CSR is checked for shape here and verified when signed.</summary>
    public static JoinRequest Join(byte[] body)
    {
        var r = Parse(body, ClusterJson.Default.JoinRequest);
        ApiRequests.ValidName(r.User, "user");
        ApiRequests.ValidName(r.Net, "net");
        ApiRequests.ValidName(r.Name, "node");
        Nonce(r.ClientNonce, "client_nonce");
        Nonce(r.ServerNonce, "server_nonce");
        if (r.Proof is null || r.Proof.Length != 64 || !IsHex(r.Proof)) throw Bad("proof: expected 64 hex digits");
        Address(r.Address);
        if (r.Csr is null || r.Csr.Length > MaxCsrChars || !r.Csr.Contains("-----BEGIN CERTIFICATE REQUEST-----", StringComparison.Ordinal))
            throw Bad($"csr: expected a PEM certificate signing request of at most {MaxCsrChars} characters");
        if (r.Cpus is < 1 or > 65536) throw Bad("cpus: expected 1 to 65536");
        if (r.MemoryBytes is < 1 or > (1L << 52)) throw Bad("memory_bytes: expected a positive size");
        if (r.Time == default) throw Bad("time: missing");
        Labels(r.Labels);
        return r;
    }

    /// <summary>Checks a cluster address: one IPv4 or IPv6 address, not unspecified, multicast or broadcast.</summary>
    public static IPAddress Address(string? s)
    {
        if (s is null || s.Length > 45 || !IPAddress.TryParse(s, out var a) || s.Contains('%'))
            throw Bad($"address: '{Printable.Escape(s)}' is not an IP address");
        if (a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || a.Equals(IPAddress.Broadcast) || a.IsIPv6Multicast
            || (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && a.GetAddressBytes()[0] >= 224))
            throw Bad($"address: {a} cannot be a node's address");
        return a;
    }

    /// <summary>Checks labels: bounded count and sizes, keys in the statefile's name rule (dots and slashes allowed), printable values.</summary>
    public static void Labels(IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null) return;
        if (labels.Count > MaxLabels) throw Bad($"labels: at most {MaxLabels}");
        foreach (var (k, v) in labels)
        {
            if (k.Length is 0 or > 63 || !k.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.' or '/' or '_'))
                throw Bad($"labels: invalid key '{Printable.Escape(k.Length > 63 ? k[..63] : k)}'");
            if (v is null || v.Length > 253 || v.Any(char.IsControl)) throw Bad($"labels: invalid value for '{k}'");
        }
    }

    private static T Parse<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        if (body.Length > MaxBodyBytes) throw new ApiRequestException(413, $"join request larger than {MaxBodyBytes >> 10} KiB", "too_large");
        try
        {
            return ApiRequests.Body(body, info);
        }
        catch (NotSupportedException e)
        {
            throw Bad($"invalid JSON body: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw Bad($"invalid JSON body: {e.Message}");
        }
    }

    private static void Nonce(string? n, string field)
    {
        if (n is null || n.Length != 64 || !IsHex(n)) throw Bad($"{field}: expected 64 hex digits");
    }

    private static bool IsHex(string s)
    {
        foreach (var c in s)
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        return true;
    }

    private static ApiRequestException Bad(string message) => new(400, message);
}
