namespace Tinyo.Node.Reconcile;

/// <summary>Opens the secrets an app names (the KV's sealed secrets under the node key; a dictionary in tests).</summary>
public interface ISecretSource
{
    /// <summary>The plaintext of secret <paramref name="name"/>, or null when it does not exist. The caller zeroes it.</summary>
    Task<byte[]?> OpenAsync(string name, CancellationToken ct);
}
