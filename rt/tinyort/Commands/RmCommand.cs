using System.CommandLine;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort rm [-f] NAME…</c>: remove containers with their upper dir, cgroup, state, log and name.</summary>
internal static class RmCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("CONTAINER") { Description = "Container names or ids", Arity = ArgumentArity.OneOrMore };
        var force = new Option<bool>("--force", "-f") { Description = "Kill a running container first" };
        var cmd = new Command("rm", "Remove containers") { names, force };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var ic = ContainerCli.Containers(pr);
            foreach (var n in pr.GetValue(names)!)
            {
                ic.Remove(ContainerNames.Resolve(ic.Root, n), pr.GetValue(force));
                Console.Out.WriteLine(n);
            }
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
