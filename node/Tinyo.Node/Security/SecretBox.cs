using System.Security.Cryptography;
using System.Text;
using Tinyo.Linux;
using Tinyo.Node.Store;

namespace Tinyo.Node.Security;

/// <summary>
/// Encrypts secrets at rest with AES-256-GCM under the node key (32 random bytes in ROOT/node.key, mode 0600).
/// The secret's name is the associated data, so a ciphertext cannot be moved to another name.
/// </summary>
public sealed class SecretBox
{
    private readonly byte[] key;

    private SecretBox(byte[] key) => this.key = key;

    /// <summary>Loads the key file, creating it (0600, exclusively) when absent.</summary>
    public static SecretBox Open(string keyFile)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        if (!File.Exists(keyFile))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(keyFile))!);
            var fresh = KernelRandom.Bytes(32);
            try
            {
                using var f = new FileStream(keyFile, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                f.Write(fresh);
                f.Flush(flushToDisk: true);
            }
            catch (IOException) when (File.Exists(keyFile))
            {
                // created concurrently: use that one
            }
        }
        var mode = File.GetUnixFileMode(keyFile);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new NodeException($"{keyFile}: the node key must be readable by its owner only (chmod 600)");
        var key = File.ReadAllBytes(keyFile);
        if (key.Length != 32) throw new NodeException($"{keyFile}: expected a 32-byte key, found {key.Length} bytes");
        return new SecretBox(key);
    }

    /// <summary>Encrypts a value for a name.</summary>
    public StoredSecret Seal(string name, byte[] value)
    {
        var nonce = KernelRandom.Bytes(12);
        var ct = new byte[value.Length];
        var tag = new byte[16];
        using var gcm = new AesGcm(key, 16);
        gcm.Encrypt(nonce, value, ct, tag, Encoding.UTF8.GetBytes(name));
        return new StoredSecret(Convert.ToBase64String(nonce), Convert.ToBase64String(ct), Convert.ToBase64String(tag), DateTimeOffset.UtcNow);
    }

    /// <summary>Decrypts; throws when the ciphertext was altered or belongs to another name or key.</summary>
    public byte[] Open(string name, StoredSecret s)
    {
        var ct = Convert.FromBase64String(s.Ciphertext);
        var pt = new byte[ct.Length];
        using var gcm = new AesGcm(key, 16);
        try
        {
            gcm.Decrypt(Convert.FromBase64String(s.Nonce), ct, Convert.FromBase64String(s.Tag), pt, Encoding.UTF8.GetBytes(name));
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new NodeException($"secret {name}: cannot be decrypted with this node's key", e);
        }
        return pt;
    }
}
