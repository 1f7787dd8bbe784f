namespace Tinyo.Api;

/// <summary>
/// POST /v1/apps/NAME/exec: run <see cref="Command"/> (non-interactive: no stdin, no TTY) in replica
/// <see cref="Replica"/> (1-based, default 1) with extra <see cref="Env"/>. The answer streams frames
/// <c>[kind:1][length:4 BE][payload]</c> — see <see cref="ExecFrames"/>.
/// </summary>
public sealed record ExecRequest(List<string> Command, int? Replica = null, Dictionary<string, string>? Env = null);

/// <summary>The frame kinds of an exec answer (content type <see cref="ContentType"/>).</summary>
public static class ExecFrames
{
    /// <summary>The answer's content type.</summary>
    public const string ContentType = "application/vnd.tinyo.exec";

    /// <summary>Output on stdout.</summary>
    public const byte Stdout = 1;

    /// <summary>Output on stderr.</summary>
    public const byte Stderr = 2;

    /// <summary>The exit code (4 bytes, big-endian; 128 + signal when killed), always the last frame.</summary>
    public const byte Exit = 3;
}
