using System.CommandLine;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort stop [-t S] NAME…</c>: SIGTERM, then SIGKILL to the whole cgroup after S seconds (default 10).</summary>
internal static class StopCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("CONTAINER") { Description = "Container names or ids", Arity = ArgumentArity.OneOrMore };
        var time = new Option<int>("--time", "-t") { Description = "Seconds to wait before killing", DefaultValueFactory = _ => 10 };
        var cmd = new Command("stop", "Stop running containers (SIGTERM, then SIGKILL)") { names, time };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var ic = ContainerCli.Containers(pr);
            var rt = new ContainerRuntime(ic.Root, ContainerCli.Options());
            int t = pr.GetValue(time);
            if (t < 0) throw new RtException("--time must not be negative");
            foreach (var n in pr.GetValue(names)!)
            {
                var id = ContainerNames.Resolve(ic.Root, n);
                if (rt.State(id).Status == "stopped") { Console.Out.WriteLine(n); continue; }
                try { rt.Kill(id, Processes.Signals.Parse("SIGTERM")); } catch (RtException) { }
                if (!ic.WaitStopped(id, TimeSpan.FromSeconds(t)))
                {
                    rt.Kill(id, Processes.Signals.Parse("SIGKILL"), all: true);
                    ic.WaitStopped(id, TimeSpan.FromSeconds(10));
                }
                Console.Out.WriteLine(n);
            }
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
