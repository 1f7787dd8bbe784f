namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// `tio backup` / `tio restore` through the real binaries: node A runs an app that reads a secret; its backup is
/// restored on a fresh root after A is down, and the app runs again with its secret (its log and `tio exec` show
/// it). A wrong passphrase, a changed byte and a truncated file are each refused naming the problem, with the fresh
/// root left absent; a restore onto a host with a cluster is refused without --force (nothing stopped), and with
/// --force replaces it and brings the app back.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class BackupRestoreTests(MirrorRegistry registry) : IClassFixture<MirrorRegistry>
{
    private const string Secret = "tinyo-BACKUP-secret-17";

    private const string App = """
        name: sec
        container: "alpine:latest"
        command: ["sh", "-c", "echo secret=$(cat /run/secrets/db-pass) env=$DB_PASS; exec sleep 1000"]
        secrets:
          - name: db-pass
            env: DB_PASS
        """;

    [Fact]
    public async Task BackupThenRestoreOnAFreshRootBringsTheAppBackWithItsSecret()
    {
        var work = Directory.CreateTempSubdirectory("tio-backup-").FullName;
        try
        {
            var pass = Path.Combine(work, "pass");
            var wrong = Path.Combine(work, "wrong");
            await File.WriteAllTextAsync(pass, "correct horse battery staple\n");
            await File.WriteAllTextAsync(wrong, "not the passphrase\n");
            var file = Path.Combine(work, "cluster.tinyo");

            await using (var a = await ReconcileNode.UpAsync(registry))
            {
                Assert.Equal(0, (await a.Node.Tio(["secret", "+", "db-pass"], stdin: Secret)).Code);
                await a.ApplyAsync("sec", App);
                var running = await a.WaitAppAsync("sec", x => x.State == "running", "sec running on A");
                await ReconcileNode.WaitAsync(() => a.LogOf("sec-1").Contains($"secret={Secret} env={Secret}"), "A's container read its secret");

                var b = await a.Tio("backup", file, "--passphrase-file", pass);
                Assert.True(b.Code == 0, $"tio backup: {b.Code} {b.Out}{b.Err}");
                Assert.Contains("written to", b.Out);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                Assert.False(File.Exists(file + ".part"));
                var bytes = await File.ReadAllBytesAsync(file);
                Assert.Equal("TINYOBAK"u8.ToArray(), bytes[..8]);
                Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(Secret)));
                Assert.Equal(-1, bytes.AsSpan().IndexOf("/tinyo/apps/"u8)); // the KV snapshot is encrypted too
                Assert.Equal(2, (await a.Tio("backup", file, "--passphrase-file", pass)).Code); // never overwritten

                // A host with a cluster: refused, nothing stopped.
                var refused = await a.Tio("restore", file, "--passphrase-file", pass, "-p", TioNode.Password);
                Assert.Equal(5, refused.Code);
                Assert.Contains("already has a cluster", refused.Err);
                Assert.Equal(running.Containers![0].Id, (await a.AppAsync("sec"))!.Containers![0].Id);
                Assert.Equal(0, (await a.Tio("down")).Code);
            }

            await using var fresh = ReconcileNode.Fresh(registry);
            // Refused files: the problem named, exit 65, the fresh root never made.
            var r = await fresh.Tio("restore", file, "--passphrase-file", wrong, "-p", TioNode.Password);
            Assert.Equal(65, r.Code);
            Assert.Contains("wrong passphrase", r.Err);
            Assert.Contains("nothing changed", r.Err);
            Assert.False(Directory.Exists(fresh.Node.Root));
            var original = await File.ReadAllBytesAsync(file);
            var changed = (byte[])original.Clone();
            changed[original.Length / 2] ^= 0x20;
            var changedFile = Path.Combine(work, "changed.tinyo");
            await File.WriteAllBytesAsync(changedFile, changed);
            r = await fresh.Tio("restore", changedFile, "--passphrase-file", pass, "-p", TioNode.Password);
            Assert.Equal(65, r.Code);
            Assert.Contains("fails authentication", r.Err);
            Assert.False(Directory.Exists(fresh.Node.Root));
            var cutFile = Path.Combine(work, "cut.tinyo");
            await File.WriteAllBytesAsync(cutFile, original[..(original.Length - 100)]);
            r = await fresh.Tio("restore", cutFile, "--passphrase-file", pass, "-p", TioNode.Password);
            Assert.Equal(65, r.Code);
            Assert.Contains("truncated", r.Err);
            Assert.False(Directory.Exists(fresh.Node.Root));

            // The real restore: the node comes up from the restored KV and runs the app with its secret.
            r = await fresh.Tio("restore", file, "--passphrase-file", pass, "-p", TioNode.Password);
            Assert.True(r.Code == 0, $"tio restore: {r.Code}\n{r.Out}{r.Err}\n{fresh.Node.Log("tinyonode")}\n{fresh.Node.Log("tinyokv")}");
            Assert.Contains("apps      sec (alpine:latest, 1 replica)", r.Out);
            Assert.Contains("secrets   db-pass", r.Out);
            Assert.False(Directory.Exists(Path.Combine(fresh.Node.Root, "restore.staging")));
            await fresh.WaitAppAsync("sec", x => x.State == "running", "sec running again after the restore", 60_000);
            await ReconcileNode.WaitAsync(() => fresh.LogOf("sec-1").Contains($"secret={Secret} env={Secret}"), "the restored container read its secret");
            var exec = await fresh.Tio("exec", "sec", "--", "cat", "/run/secrets/db-pass");
            Assert.True(exec.Code == 0, exec.Err);
            Assert.Equal(Secret, exec.Out.Trim());

            // Onto this (now existing) cluster: refused without --force; with it, replaced and the app back again.
            r = await fresh.Tio("restore", file, "--passphrase-file", pass, "-p", TioNode.Password);
            Assert.Equal(5, r.Code);
            r = await fresh.Tio("restore", file, "--passphrase-file", pass, "-p", TioNode.Password, "--force");
            Assert.True(r.Code == 0, $"tio restore --force: {r.Code}\n{r.Out}{r.Err}\n{fresh.Node.Log("tinyonode")}");
            Assert.Contains("the previous state is in", r.Out);
            await fresh.WaitAppAsync("sec", x => x.State == "running", "sec running after the forced restore", 60_000);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
