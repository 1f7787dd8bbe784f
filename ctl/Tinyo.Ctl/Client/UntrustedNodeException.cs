namespace Tinyo.Ctl.Client;

/// <summary>The node's TLS certificate is not the pinned one, or no pin exists and no CA vouches for it.</summary>
public sealed class UntrustedNodeException(NodeAddress address, string presented, string? pinned)
    : CtlException(pinned is null
        ? $"the node at {address} presented a certificate nobody vouches for (key {presented}). If that is the key the node " +
          $"shows (tio ++ prints it; `tio status` on the node), pin it: tio login --host {address} --fingerprint {presented}"
        : $"the node at {address} presented key {presented}, not the pinned {pinned}: its certificate was replaced, or " +
          "someone is in between. Check the key on the node (`tio status` there); if it changed on purpose, log in again with --fingerprint")
{
    /// <summary>The pin of what the node presented.</summary>
    public string Presented { get; } = presented;
}
