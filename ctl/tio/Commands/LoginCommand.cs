using System.CommandLine;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio login / tio logout.</summary>
internal static class LoginCommand
{
    public static Command Login()
    {
        var user = new Option<string>("-u", "--user") { Description = "User name", Required = true };
        var pass = new Option<string?>("-p", "--password") { Description = "Password (else TINYO_PASSWORD or stdin)" };
        var cmd = new Command("login", "Log in to the node; the token is saved (mode 0600) under ~/.config/tinyo") { user, pass };
        Common.Run(cmd, async (pr, ct) =>
        {
            var client = new NodeClient(Common.Address(pr));
            var login = await client.LoginAsync(pr.GetValue(user)!, Common.Password(pr.GetValue(pass)), ct);
            Credentials.Set(client.Address, new SavedLogin(login.User, login.Token, login.Expires));
            Console.WriteLine($"logged in as {login.User} (expires {login.Expires:yyyy-MM-dd HH:mm}Z)");
            return Exit.Ok;
        });
        return cmd;
    }

    public static Command Logout()
    {
        var cmd = new Command("logout", "Revoke this CLI's token and forget it");
        Common.Run(cmd, async (pr, ct) =>
        {
            var addr = Common.Address(pr);
            if (Credentials.Get(addr) is null)
            {
                Console.WriteLine("not logged in");
                return Exit.Ok;
            }
            try
            {
                await Common.Client(pr).LogoutAsync(ct);
            }
            catch (ApiException e) when (e.Status == 401)
            {
                // already expired or revoked: forgetting it is all that is left
            }
            Credentials.Set(addr, null);
            Console.WriteLine("logged out");
            return Exit.Ok;
        });
        return cmd;
    }
}
