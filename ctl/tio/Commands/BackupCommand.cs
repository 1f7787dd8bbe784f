using System.CommandLine;
using System.Text.Json;
using Tinyo.Api;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio backup FILE: asks the node for a backup (<c>POST /v1/backup</c>, admins) and writes the encrypted stream to
/// FILE — through FILE.part (0600, created exclusively), renamed into place only once the node's answer ended whole,
/// so a broken transfer never leaves a file that looks complete.
/// </summary>
internal static class BackupCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The backup file to write (must not exist)" };
        var passFile = new Option<string?>("--passphrase-file") { Description = "Read the passphrase from this file's first line (else prompted, or stdin's first line)" };
        var cmd = new Command("backup", "Write the cluster's state (KV snapshot, node key and CA, secrets, apps, image references) to one encrypted file") { file, passFile };
        Common.Run(cmd, async (pr, ct) =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
            var path = Path.GetFullPath(pr.GetValue(file)!);
            if (File.Exists(path) || Directory.Exists(path)) throw new UsageException($"{path} exists: remove it or choose another name");
            var passphrase = Passphrase.Read(pr.GetValue(passFile), confirm: true);
            var client = Common.Client(pr, TimeSpan.FromMinutes(5));
            var part = path + ".part";
            long bytes = 0;
            try
            {
                await using (var fs = new FileStream(part, new FileStreamOptions
                             {
                                 Mode = FileMode.CreateNew, Access = FileAccess.Write,
                                 UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                             }))
                {
                    var body = JsonSerializer.SerializeToUtf8Bytes(new BackupRequest(passphrase), ApiJson.Default.BackupRequest);
                    await client.StreamAsync("POST", "/v1/backup", body, async (data, c) =>
                    {
                        await fs.WriteAsync(data, c);
                        bytes += data.Length;
                    }, ct);
                    fs.Flush(flushToDisk: true);
                }
                File.Move(part, path);
            }
            catch
            {
                File.Delete(part);
                throw;
            }
            Console.WriteLine($"backup    written to {path} ({bytes} bytes, AES-256-GCM, key from the passphrase by PBKDF2-SHA256)");
            return Exit.Ok;
        });
        return cmd;
    }
}
