namespace Tinyo.Node.Backup;

/// <summary>
/// A backup file that cannot be read or restored: wrong passphrase, truncated, changed, another format version, or
/// malformed contents. The message names the problem and where in the file it was found; nothing was written.
/// </summary>
public sealed class BackupException(string message) : NodeException(message);
