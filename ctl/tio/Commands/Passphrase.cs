namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// A backup's passphrase: the first line of --passphrase-file, else typed at the terminal without echo (twice when
/// making a backup), else the first line of stdin. Never a command-line argument: it would show in ps and the shell's
/// history.
/// </summary>
internal static class Passphrase
{
    /// <summary>The shortest passphrase accepted (as the node's).</summary>
    public const int MinLength = 8;

    public static string Read(string? file, bool confirm)
    {
        string p;
        if (file is not null)
        {
            var text = File.ReadAllText(file);
            var nl = text.IndexOf('\n');
            p = (nl < 0 ? text : text[..nl]).TrimEnd('\r');
            if (p.Length == 0) throw new UsageException($"--passphrase-file {file}: its first line is empty");
        }
        else if (!Console.IsInputRedirected)
        {
            p = Prompt("passphrase: ");
            if (confirm && Prompt("passphrase again: ") != p) throw new UsageException("the passphrases differ");
        }
        else p = Console.In.ReadLine() ?? "";
        if (p.Length < MinLength) throw new UsageException($"the passphrase is too short: at least {MinLength} characters");
        return p;
    }

    private static string Prompt(string what)
    {
        Console.Error.Write(what);
        var sb = new System.Text.StringBuilder();
        while (true)
        {
            var k = Console.ReadKey(intercept: true);
            if (k.Key == ConsoleKey.Enter) break;
            if (k.Key == ConsoleKey.Backspace) { if (sb.Length > 0) sb.Length--; continue; }
            if (k.KeyChar != '\0') sb.Append(k.KeyChar);
        }
        Console.Error.WriteLine();
        return sb.ToString();
    }
}
