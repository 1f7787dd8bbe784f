namespace Tinyo.Ctl.Setup;

/// <summary>
/// Where a node's files live under its root (default /var/lib/tinyo, <c>--root</c> or <c>TINYO_ROOT</c>):
/// <c>kv/</c> tinyokv's data, <c>kv.token</c> the KV token (0600), <c>node.key</c> the secrets key (0600, made by
/// the node), <c>run/NAME.pid</c> pid files, <c>logs/NAME.log</c> the daemons' output.
/// </summary>
public sealed record NodeLayout(string Root)
{
    /// <summary>The default root.</summary>
    public const string DefaultRoot = "/var/lib/tinyo";

    /// <summary>tinyokv's data directory.</summary>
    public string KvData => Path.Combine(Root, "kv");

    /// <summary>The KV cluster token.</summary>
    public string KvToken => Path.Combine(Root, "kv.token");

    /// <summary>A component's pid file.</summary>
    public string PidFile(string component) => Path.Combine(Root, "run", component + ".pid");

    /// <summary>A component's log.</summary>
    public string LogFile(string component) => Path.Combine(Root, "logs", component + ".log");
}
