using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// The hidden <c>tinyort init FD</c> verb: the container's init, started by the runtime itself in the new namespaces
/// (see <see cref="ContainerInit"/>). Dispatched before the command line is parsed, to keep start-up minimal.
/// </summary>
internal static class InitCommand
{
    /// <summary>Whether <paramref name="args"/> are an init invocation.</summary>
    public static bool Matches(string[] args) => args.Length == 2 && args[0] == "init";

    /// <summary>Runs init; returns only on failure.</summary>
    public static int Run(string[] args) =>
        int.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var fd)
            ? ContainerInit.Run(fd)
            : 2;
}
