using Tinyo.Rt.Containers;

namespace Tinyo.Node.Cli.Commands;

/// <summary>
/// The hidden <c>tinyonode init FD</c> verb: a container's init, started by the in-process runtime in the new
/// namespaces (<see cref="ContainerInit"/>, as <c>tinyort init</c>).
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
