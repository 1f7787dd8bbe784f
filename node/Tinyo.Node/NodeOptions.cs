using System.Net;

namespace Tinyo.Node;

/// <summary>Settings of a node daemon.</summary>
public sealed class NodeOptions
{
    /// <summary>The node's state directory (node key, logs); default /var/lib/tinyo.</summary>
    public required string Root { get; init; }

    /// <summary>The unix socket of the API; default /run/tinyo/node.sock.</summary>
    public required string Socket { get; init; }

    /// <summary>Optional TCP address for remote clients (bearer tokens required).</summary>
    public IPEndPoint? Tcp { get; init; }

    /// <summary>tinyokv client addresses.</summary>
    public required IReadOnlyList<IPEndPoint> KvEndpoints { get; init; }

    /// <summary>tinyokv cluster token.</summary>
    public required string KvToken { get; init; }

    /// <summary>The node's name (default: the host name).</summary>
    public string Name { get; init; } = Environment.MachineName;

    /// <summary>How long a login token is valid.</summary>
    public TimeSpan TokenTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>PBKDF2 iterations for new passwords.</summary>
    public int Pbkdf2Iterations { get; init; } = Security.Passwords.DefaultIterations;

    /// <summary>Where log lines go (stderr by default). Secrets are never passed here.</summary>
    public Action<string> Log { get; init; } = s => Console.Error.WriteLine($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} tinyonode: {s}");
}
