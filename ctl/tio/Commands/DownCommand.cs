using System.CommandLine;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio down (--): stops tinyonode, then tinyokv, by their pid files (only if the pid is really ours).</summary>
internal static class DownCommand
{
    public static Command Create()
    {
        var grace = new Option<double>("--grace") { Description = "Seconds to wait after SIGTERM before SIGKILL", DefaultValueFactory = _ => 10 };
        var cmd = new Command("down", "Stop this node's daemons (tinyonode, tinyokv); state is kept") { grace };
        cmd.Aliases.Add("--");
        Common.Run(cmd, (pr, _) =>
        {
            var sup = new Supervisor(Common.Layout(pr));
            var any = false;
            foreach (var c in (string[])["tinyonode", "tinyokv"])
            {
                if (sup.Running(c) is not { } pid) continue;
                any = true;
                var killed = sup.Stop(c, pid, TimeSpan.FromSeconds(pr.GetValue(grace)));
                Console.WriteLine($"{c,-9} stopped (pid {pid}{(killed ? ", killed after the grace period" : "")})");
            }
            if (!any) Console.WriteLine($"nothing running for {sup.Layout.Root}");
            return Task.FromResult(Exit.Ok);
        });
        return cmd;
    }
}
