using System.Text;

namespace Tinyo.Node.Store;

/// <summary>
/// The KV key schema. Every value is JSON (source-generated) unless noted.
/// <list type="table">
/// <item><term>/tinyo/init</term><description>the first net's name; written once by init (guards against a second init)</description></item>
/// <item><term>/tinyo/nets/NAME</term><description><c>NetInfo</c>: the cluster's name(s)</description></item>
/// <item><term>/tinyo/users/NAME</term><description><c>StoredUser</c>: PBKDF2-SHA256 salt, hash, iterations</description></item>
/// <item><term>/tinyo/tokens/SHA256HEX</term><description><c>StoredToken</c>: user and expiry, attached to a KV lease with the token's TTL
/// so expired tokens disappear on their own; the token itself is never stored</description></item>
/// <item><term>/tinyo/secrets/NAME</term><description><c>StoredSecret</c>: AES-256-GCM nonce, ciphertext and tag under the node key, AAD = name</description></item>
/// <item><term>/tinyo/apps/NAME</term><description><c>AppRecord</c>: the validated statefile document (desired state)</description></item>
/// <item><term>/tinyo/status/NODE/APP</term><description><c>AppStatus</c>: what the reconciler of NODE observes (containers, restarts, errors)</description></item>
/// <item><term>/tinyo/settings/registry.mirrors</term><description>plain text: registry mirrors for docker.io images, comma-separated</description></item>
/// <item><term>/tinyo/settings/subnet.pool</term><description>plain text "CIDR PREFIX": the cluster subnet pool, stored once by the first node (<c>Network.SubnetPool</c>)</description></item>
/// </list>
/// </summary>
public static class Keys
{
    /// <summary>Prefix of every Tinyo key.</summary>
    public const string Root = "/tinyo/";

    /// <summary>Written once by init.</summary>
    public const string Init = "/tinyo/init";

    /// <summary>Nets.</summary>
    public const string Nets = "/tinyo/nets/";

    /// <summary>Users.</summary>
    public const string Users = "/tinyo/users/";

    /// <summary>Login tokens by hash.</summary>
    public const string Tokens = "/tinyo/tokens/";

    /// <summary>Secrets.</summary>
    public const string Secrets = "/tinyo/secrets/";

    /// <summary>Apps (desired state).</summary>
    public const string Apps = "/tinyo/apps/";

    /// <summary>Observed state, per node then app.</summary>
    public const string Status = "/tinyo/status/";

    /// <summary>Registry mirrors for docker.io images (plain text, comma-separated), in addition to the node's flag.</summary>
    public const string RegistryMirrors = "/tinyo/settings/registry.mirrors";

    /// <summary>UTF-8 bytes of a key.</summary>
    public static byte[] Of(string prefix, string name) => Encoding.UTF8.GetBytes(prefix + name);

    /// <summary>UTF-8 bytes.</summary>
    public static byte[] Of(string key) => Encoding.UTF8.GetBytes(key);
}
