using System.CommandLine;
using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>What the OCI verbs share: the runtime from <c>--root</c>, and one-line errors.</summary>
internal static class OciCommon
{
    /// <summary>A runtime over the root named by <c>--root</c>, <c>TINYO_ROOT</c> or the default.</summary>
    public static ContainerRuntime Runtime(ParseResult r, Option<string?> root) =>
        new(RuntimeRoot.Resolve(r.GetValue(root)), new RuntimeOptions
        {
            Warn = w => Console.Error.WriteLine("tinyort: warning: " + w),
            // A framework-dependent (dotnet) build finds its files next to its path: it cannot run sealed.
            SealInit = !File.Exists(Path.ChangeExtension(Environment.ProcessPath ?? "", ".dll")),
        });

    /// <summary>Runs a verb; an <see cref="RtException"/> becomes <c>tinyort: message</c> and exit status 1.</summary>
    public static int Guard(Func<int> action)
    {
        try { return action(); }
        catch (RtException e)
        {
            Console.Error.WriteLine("tinyort: " + e.Message);
            return 1;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine("tinyort: " + e.Message);
            return 1;
        }
    }

    /// <summary>The container id argument.</summary>
    public static Argument<string> IdArgument() => new("container-id") { Description = "Container id" };
}
