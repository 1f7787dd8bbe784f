using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio net + NAME | ls | - NAME | egress NAME on|off.</summary>
internal static class NetCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "Net name" };
        var noEgress = new Option<bool>("--no-egress") { Description = "Its replicas reach only each other (no traffic beyond the cluster)" };
        var add = new Command("+", "Create a net: a cluster, whose apps reach each other by name and nothing of other clusters") { name, noEgress };
        add.Aliases.Add("add");
        Common.Run(add, async (pr, ct) =>
        {
            bool off = pr.GetValue(noEgress);
            await Common.Client(pr).NetCreateAsync(pr.GetValue(name)!, off ? false : null, ct);
            Console.WriteLine($"net {pr.GetValue(name)}: created{(off ? " (no egress)" : "")}");
            return Exit.Ok;
        });
        var rmName = new Argument<string>("NAME") { Description = "Net name" };
        var rm = new Command("-", "Delete a net (refused while apps use it)") { rmName };
        rm.Aliases.Add("rm");
        Common.Run(rm, async (pr, ct) =>
        {
            await Common.Client(pr).NetDeleteAsync(pr.GetValue(rmName)!, ct);
            Console.WriteLine($"net {pr.GetValue(rmName)}: deleted");
            return Exit.Ok;
        });
        var ls = new Command("ls", "List nets");
        Common.Run(ls, async (pr, ct) =>
        {
            var nets = await Common.Client(pr).NetsAsync(ct);
            Common.Table(["NAME", "EGRESS", "AGE"], nets.Select(n => new[] { n.Name, n.Egress == false ? "off" : "on", Common.Age(n.Created) }));
            return Exit.Ok;
        });
        var egName = new Argument<string>("NAME") { Description = "Net name" };
        var onOff = new Argument<string>("on|off") { Description = "on: its replicas reach beyond the cluster (masqueraded); off: only each other" };
        onOff.AcceptOnlyFromAmong("on", "off");
        var egress = new Command("egress", "Switch a net's egress on or off; running replicas keep their addresses, every node applies it at once") { egName, onOff };
        Common.Run(egress, async (pr, ct) =>
        {
            bool on = pr.GetValue(onOff) == "on";
            await Common.Client(pr).NetEgressAsync(pr.GetValue(egName)!, on, ct);
            Console.WriteLine($"net {pr.GetValue(egName)}: egress {(on ? "on" : "off")}");
            return Exit.Ok;
        });
        return new Command("net", "Manage nets (the cluster's name)") { add, rm, ls, egress };
    }
}
