using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio down (--): stops tinyonode, then tinyokv — detached processes by their pid files (only if the pid is really
/// ours), systemd units through systemctl (then disabled) — and with --remove-units deletes this root's unit files.
/// </summary>
internal static class DownCommand
{
    public static Command Create()
    {
        var grace = new Option<double>("--grace") { Description = "Seconds to wait after SIGTERM before SIGKILL", DefaultValueFactory = _ => 10 };
        var removeUnits = new Option<bool>("--remove-units") { Description = "Also delete this node's systemd unit files (the state under the root is kept)" };
        var cmd = new Command("down", "Stop this node's daemons (tinyonode, tinyokv); state is kept") { grace, removeUnits };
        cmd.Aliases.Add("--");
        Common.Run(cmd, (pr, _) =>
        {
            var layout = Common.Layout(pr);
            var daemons = Common.Daemons(layout);
            var any = false;
            foreach (var c in (string[])["tinyonode", "tinyokv"])
            {
                foreach (var s in daemons.Stop(c, TimeSpan.FromSeconds(pr.GetValue(grace))))
                {
                    any = true;
                    Console.WriteLine($"{c,-9} stopped ({s.Daemon}{(s.Killed ? ", killed after the grace period" : "")})");
                }
            }
            if (!any) Console.WriteLine($"nothing running for {layout.Root}");
            if (pr.GetValue(removeUnits))
            {
                var removed = daemons.RemoveUnits();
                Console.WriteLine(removed.Count > 0
                    ? $"removed   {string.Join(", ", removed)} from {daemons.Units.UnitDir}"
                    : $"no systemd units for {layout.Root} in {daemons.Units.UnitDir}");
            }
            return Task.FromResult(Exit.Ok);
        });
        return cmd;
    }
}
