using Tinyo.Api;
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
        var fingerprint = new Option<string?>("--fingerprint")
        {
            Description = "The node's TLS key (sha256:HEX, as `tio ++` and `tio status` on the node show it): pinned for this address once the login succeeds",
        };
        var cmd = new Command("login", "Log in to the node; the token is saved (mode 0600) under ~/.config/tinyo") { user, pass, fingerprint };
        Common.Run(cmd, async (pr, ct) =>
        {
            var addr = Common.Address(pr);
            string? pin = null;
            if (pr.GetValue(fingerprint) is { } f)
            {
                if (addr.Tcp is null || addr.Plain) throw new UsageException("--fingerprint is for a TLS address (tcp://HOST:PORT)");
                pin = CertificatePin.Normalize(f) ?? throw new UsageException($"--fingerprint: '{f}' is not sha256: and 64 hex digits");
            }
            var client = new NodeClient(addr) { Pin = pin ?? Common.Pin(addr) };
            var login = await client.LoginAsync(pr.GetValue(user)!, Common.Password(pr.GetValue(pass)), ct);
            if (pin is not null) Credentials.SetPin(addr, pin); // only a key that answered a successful login is kept
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
