using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio user + NAME | - NAME | ls.</summary>
internal static class UserCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "User name" };
        var pass = new Option<string?>("-p", "--password") { Description = "Password (else TINYO_PASSWORD or stdin)" };
        var role = new Option<string?>("-role", "--role") { Description = "admin (default), deployer (apply, remove, logs, exec in its clusters) or viewer (read only)" };
        var clusters = new Option<string?>("-clusters", "--clusters") { Description = "A deployer's clusters, comma-separated" };
        var add = new Command("+", "Add a user") { name, pass, role, clusters };
        add.Aliases.Add("add");
        Common.Run(add, async (pr, ct) =>
        {
            var cl = pr.GetValue(clusters) is { } c ? c.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
            await Common.Client(pr).UserAddAsync(pr.GetValue(name)!, Common.Password(pr.GetValue(pass)), pr.GetValue(role), cl, ct);
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
            Common.Table(["NAME", "ROLE", "CLUSTERS", "AGE"], users.Select(u => new[] { u.Name, u.Role, string.Join(',', u.Clusters ?? []), Common.Age(u.Created) }));
            return Exit.Ok;
        });
        return new Command("user", "Manage users") { add, rm, ls };
    }
}
