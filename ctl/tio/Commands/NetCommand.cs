using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio net + NAME | ls | - NAME.</summary>
internal static class NetCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "Net name" };
        var add = new Command("+", "Create a net") { name };
        add.Aliases.Add("add");
        Common.Run(add, async (pr, ct) =>
        {
            await Common.Client(pr).NetCreateAsync(pr.GetValue(name)!, ct);
            Console.WriteLine($"net {pr.GetValue(name)}: created");
            return Exit.Ok;
        });
        var rmName = new Argument<string>("NAME") { Description = "Net name" };
        var rm = new Command("-", "Delete a net") { rmName };
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
            Common.Table(["NAME", "AGE"], nets.Select(n => new[] { n.Name, Common.Age(n.Created) }));
            return Exit.Ok;
        });
        return new Command("net", "Manage nets (the cluster's name)") { add, rm, ls };
    }
}
