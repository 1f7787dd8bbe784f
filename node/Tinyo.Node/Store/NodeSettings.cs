using System.Text;
using Tinyo.Node.Security;
using Tinyo.Rt.Images;

namespace Tinyo.Node.Store;

/// <summary>Typed reads of what the reconciler takes from the KV besides apps: settings and sealed secrets.</summary>
public sealed class NodeSettings(StateStore store)
{
    /// <summary>Registry mirrors set in the cluster (<c>/tinyo/settings/registry.mirrors</c>), empty when unset.</summary>
    public async Task<IReadOnlyList<string>> RegistryMirrorsAsync(CancellationToken ct)
        => await store.Kv.GetAsync(Keys.Of(Keys.RegistryMirrors), ct: ct).ConfigureAwait(false) is { } kv
            ? RegistryMirrors.Split(Encoding.UTF8.GetString(kv.Value))
            : [];

    /// <summary>The plaintext of a secret, opened with the node key; null when it does not exist.</summary>
    public async Task<byte[]?> OpenSecretAsync(string name, SecretBox box, CancellationToken ct)
        => await store.GetAsync(Keys.Secrets + name, StoreJson.Default.StoredSecret, ct).ConfigureAwait(false) is { } stored
            ? box.Open(name, stored)
            : null;
}
