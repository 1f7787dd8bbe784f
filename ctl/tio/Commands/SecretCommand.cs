using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio secret + NAME [--from-file F | stdin] | - NAME | ls. Values are never printed.</summary>
internal static class SecretCommand
{
    public const int MaxBytes = 1 << 20;

    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "Secret name" };
        var from = new Option<string?>("--from-file") { Description = "Read the value from this file (default: stdin)" };
        var add = new Command("+", "Add a secret (value from --from-file or stdin; stored encrypted)") { name, from };
        add.Aliases.Add("add");
        Common.Run(add, async (pr, ct) =>
        {
            byte[] value;
            if (pr.GetValue(from) is { } f)
            {
                if (new FileInfo(f) is { Exists: true, Length: > MaxBytes }) throw new CtlException($"{f}: larger than 1 MiB");
                value = await File.ReadAllBytesAsync(f, ct);
            }
            else
            {
                if (!Console.IsInputRedirected) Console.Error.WriteLine("reading the secret from stdin (end with Ctrl-D)");
                using var stdin = Console.OpenStandardInput();
                using var ms = new MemoryStream();
                await stdin.CopyToAsync(ms, ct);
                if (ms.Length > MaxBytes) throw new CtlException("secret larger than 1 MiB");
                value = ms.ToArray();
            }
            if (value.Length == 0) throw new UsageException("the secret is empty");
            await Common.Client(pr).SecretAddAsync(pr.GetValue(name)!, value, ct);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(value);
            Console.WriteLine($"secret {pr.GetValue(name)}: added");
            return Exit.Ok;
        });
        var rmName = new Argument<string>("NAME") { Description = "Secret name" };
        var rm = new Command("-", "Remove a secret") { rmName };
        rm.Aliases.Add("rm");
        Common.Run(rm, async (pr, ct) =>
        {
            await Common.Client(pr).SecretRemoveAsync(pr.GetValue(rmName)!, ct);
            Console.WriteLine($"secret {pr.GetValue(rmName)}: removed");
            return Exit.Ok;
        });
        var ls = new Command("ls", "List secrets (names only)");
        Common.Run(ls, async (pr, ct) =>
        {
            var list = await Common.Client(pr).SecretsAsync(ct);
            Common.Table(["NAME", "AGE"], list.Select(s => new[] { s.Name, Common.Age(s.Created) }));
            return Exit.Ok;
        });
        return new Command("secret", "Manage secrets") { add, rm, ls };
    }
}
