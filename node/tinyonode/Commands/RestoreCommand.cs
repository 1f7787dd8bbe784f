using System.CommandLine;
using Tinyo.Node.Backup;

namespace Tinyo.Node.Cli.Commands;

/// <summary>
/// tinyonode restore FILE --stage DIR: the node's half of <c>tio restore</c>. Reads the backup twice — first checking
/// everything (passphrase, every chunk's tag, the records) and writing nothing, then into the new directory DIR — and
/// prints what it holds. The passphrase comes from --passphrase-file or the first line of stdin, never the command line.
/// Exit 65 (EX_DATAERR) for a file that is refused, 1 for other errors.
/// </summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The backup file (from tio backup)" };
        var stage = new Option<string>("--stage") { Description = "A new directory to extract into (kv.snap, files/, manifest.json)", Required = true };
        var passFile = new Option<string?>("--passphrase-file") { Description = "Read the passphrase from this file's first line (else stdin's)" };
        var cmd = new Command("restore", "Check a backup file and extract it into a staging directory (used by tio restore)") { file, stage, passFile };
        cmd.SetAction((pr, ct) =>
        {
            try
            {
                var passphrase = pr.GetValue(passFile) is { } pf ? FirstLine(File.ReadAllText(pf)) : Console.In.ReadLine() ?? "";
                if (passphrase.Length == 0) throw new BackupException("no passphrase given (stdin or --passphrase-file)");
                var m = NodeRestore.Stage(pr.GetValue(file)!, passphrase, pr.GetValue(stage)!);
                Console.WriteLine($"backup    of node {m.Node}, net {m.Net ?? "-"}, made {m.Created:yyyy-MM-dd HH:mm:ss}Z by {m.Admin ?? "-"} (tinyo {m.Tinyo}, KV revision {m.KvRevision})");
                Console.WriteLine($"apps      {(m.Apps.Count == 0 ? "none" : string.Join(", ", m.Apps.Select(a => $"{a.Name} ({a.Image}, {a.Replicas} replica{(a.Replicas == 1 ? "" : "s")})")))}");
                Console.WriteLine($"secrets   {(m.Secrets.Count == 0 ? "none" : string.Join(", ", m.Secrets))}");
                Console.WriteLine($"users     {string.Join(", ", m.Users)}");
                foreach (var i in m.Images) Console.WriteLine($"image     {i.Reference} {i.Digest ?? "(not pulled on the backed-up node)"}");
                Console.WriteLine($"files     {string.Join(", ", m.Files)}");
                return Task.FromResult(0);
            }
            catch (BackupException e)
            {
                Console.Error.WriteLine($"tinyonode: {Tinyo.Api.Statefile.Printable.Escape(e.Message)}");
                return Task.FromResult(65);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"tinyonode: {Tinyo.Api.Statefile.Printable.Escape(e.Message)}");
                return Task.FromResult(1);
            }
        });
        return cmd;
    }

    private static string FirstLine(string s)
    {
        var nl = s.IndexOf('\n');
        return (nl < 0 ? s : s[..nl]).TrimEnd('\r');
    }
}
