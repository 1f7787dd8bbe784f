using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio user + NAME | - NAME | ls.</summary>
internal static class UserCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "User name" };
        var pass = new Option<string?>("-p", "--password") { Description = "Password (else TINYO_PASSWORD or stdin)" };
        var add = new Command("+", "Add a user") { name, pass };
        add.Aliases.Add("add");
        Common.Run(add, async (pr, ct) =>
        {
            await Common.Client(pr).UserAddAsync(pr.GetValue(name)!, Common.Password(pr.GetValue(pass)), ct);
            Console.WriteLine($"user {pr.GetValue(name)}: added");
            return Exit.Ok;
        });
        var rmName = new Argument<string>("NAME") { Description = "User name" };
        var rm = new Command("-", "Remove a user (their tokens stop working)") { rmName };
        rm.Aliases.Add("rm");
        Common.Run(rm, async (pr, ct) =>
        {
            await Common.Client(pr).UserRemoveAsync(pr.GetValue(rmName)!, ct);
            Console.WriteLine($"user {pr.GetValue(rmName)}: removed");
            return Exit.Ok;
        });
        var ls = new Command("ls", "List users");
        Common.Run(ls, async (pr, ct) =>
        {
            var users = await Common.Client(pr).UsersAsync(ct);
            Common.Table(["NAME", "AGE"], users.Select(u => new[] { u.Name, Common.Age(u.Created) }));
            return Exit.Ok;
        });
        return new Command("user", "Manage users") { add, rm, ls };
    }
}
