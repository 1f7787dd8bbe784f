namespace Tinyo.Node.Ports;

/// <summary>A host port an app asks for is taken: by another app, or by a process that is not Tinyo's.</summary>
public sealed class PortInUseException(int port, string protocol, string? byApp)
    : NodeException($"port {port}{(protocol == "tcp" ? "" : "/" + protocol)} is already in use " +
                    (byApp is null ? "by another process on this host" : $"by app {byApp}"))
{
    /// <summary>The host port.</summary>
    public int Port { get; } = port;

    /// <summary>The app holding it, or null for a process that is not Tinyo's.</summary>
    public string? ByApp { get; } = byApp;
}
