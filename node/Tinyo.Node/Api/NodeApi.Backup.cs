using Tinyo.Node.Backup;
using Tinyo.Node.Http;

namespace Tinyo.Node.Api;

/// <summary>
/// <c>POST /v1/backup {passphrase}</c> (<c>tio backup FILE</c>; admins only, as every write outside apps): answers
/// with the backup file itself, streamed (<c>application/vnd.tinyo.backup</c>; format in docs/architecture.md,
/// "Backup and restore"). The KV snapshot is taken before the answer starts, so a KV failure is a 503, not a broken
/// stream; the file is encrypted here, so the node key never leaves the node in the clear. The passphrase is never
/// logged or kept.
/// </summary>
public sealed partial class NodeApi
{
    /// <summary>The content type of a backup file.</summary>
    public const string BackupContentType = "application/vnd.tinyo.backup";

    private async Task<HttpResponse> BackupAsync(HttpRequest req, string user, CancellationToken ct)
    {
        var body = Body(req, J.BackupRequest);
        if (body.Passphrase is not { } passphrase || passphrase.Length < BackupKeys.MinPassphraseLength)
            throw new BadRequest(400, $"the passphrase must have at least {BackupKeys.MinPassphraseLength} characters");
        var backup = new NodeBackup(options, store);
        try
        {
            await backup.PrepareAsync(user, ct);
        }
        catch
        {
            backup.Dispose();
            throw;
        }
        options.Log($"backup: {user} is taking a backup");
        return new HttpResponse(200, [], BackupContentType)
        {
            Streamer = async (output, token) =>
            {
                using (backup) await backup.WriteAsync(output, passphrase, token);
                options.Log($"backup: written for {user}");
            },
        };
    }
}
