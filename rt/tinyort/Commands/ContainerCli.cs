using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>What the docker-like container verbs (run, ps, logs, stop, rm, exec) share.</summary>
internal static class ContainerCli
{
    /// <summary>Runtime options for this executable (see <see cref="OciCommon.Runtime"/>).</summary>
    public static RuntimeOptions Options() => new()
    {
        Warn = w => Console.Error.WriteLine("tinyort: warning: " + w),
        SealInit = !File.Exists(Path.ChangeExtension(Environment.ProcessPath ?? "", ".dll")),
    };

    /// <summary>The containers of the root chosen by <c>--root</c>.</summary>
    public static ImageContainers Containers(System.CommandLine.ParseResult pr) => new(Cli.ResolveRoot(pr), Options());
}
