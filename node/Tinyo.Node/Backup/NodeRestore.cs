namespace Tinyo.Node.Backup;

/// <summary>
/// The node's half of <c>tio restore</c> (<c>tinyonode restore</c>): reads the whole backup once, checking
/// everything and writing nothing, then a second time into a new staging directory — <c>kv.snap</c> (for
/// <c>tinyokv snapshot restore</c>), the node files under their names and <c>manifest.json</c> — each file created
/// 0600 and exclusively. A failure in the second pass removes the staging directory. tio then moves the files into
/// the root and seeds the KV's data directory; the node reconciles from the restored KV when it starts.
/// </summary>
public static class NodeRestore
{
    /// <summary>Verifies <paramref name="file"/>, then stages it in <paramref name="stageDir"/> (which must not exist).</summary>
    public static BackupManifest Stage(string file, string passphrase, string stageDir, BackupLimits? limits = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        using var input = Open(file);
        BackupReader.Read(input, passphrase, new VerifyingSink(), limits);
        input.Position = 0;
        if (Directory.Exists(stageDir) || File.Exists(stageDir)) throw new BackupException($"{stageDir} exists: remove it first");
        var parent = Path.GetDirectoryName(Path.GetFullPath(stageDir))!;
        Directory.CreateDirectory(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(stageDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var manifest = BackupReader.Read(input, passphrase, new StagingSink(stageDir), limits);
            File.WriteAllBytes(Path.Combine(stageDir, "manifest.json"),
                System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(manifest, BackupJson.Default.BackupManifest));
            return manifest;
        }
        catch
        {
            Directory.Delete(stageDir, recursive: true);
            throw;
        }
    }

    private static FileStream Open(string file)
    {
        try
        {
            return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BackupException($"cannot read {file}: {e.Message}");
        }
    }

    /// <summary>Writes each content record to its file in the staging directory.</summary>
    private sealed class StagingSink(string dir) : IBackupSink
    {
        public void Manifest(BackupManifest manifest)
        {
        }

        public Stream Open(BackupRecordType type, string name)
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
            var path = type == BackupRecordType.KvSnapshot ? Path.Combine(dir, "kv.snap") : Path.Combine(dir, "files", name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
    }
}
