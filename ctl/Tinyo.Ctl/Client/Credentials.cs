using Tinyo.Api;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tinyo.Ctl.Client;

/// <summary>A saved login for one node address.</summary>
public sealed record SavedLogin(string User, string Token, DateTimeOffset Expires);

/// <summary>Logins by node address.</summary>
public sealed class CredentialsFile
{
    /// <summary>Logins keyed by <see cref="NodeAddress.ToString"/>.</summary>
    public Dictionary<string, SavedLogin> Logins { get; set; } = [];

    /// <summary>Pinned TLS public keys (<see cref="CertificatePin"/>) keyed by <see cref="NodeAddress.ToString"/>.</summary>
    public Dictionary<string, string> Pins { get; set; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(CredentialsFile))]
internal sealed partial class CredentialsJson : JsonSerializerContext;

/// <summary>
/// The CLI's tokens: <c>$XDG_CONFIG_HOME/tinyo/credentials.json</c> (default <c>~/.config/tinyo/</c>), directory 0700,
/// file 0600, replaced atomically.
/// </summary>
public static class Credentials
{
    /// <summary>The config directory.</summary>
    public static string ConfigDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            var baseDir = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)
                ? xdg
                : Path.Combine(Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            return Path.Combine(baseDir, "tinyo");
        }
    }

    /// <summary>The credentials file.</summary>
    public static string FilePath => Path.Combine(ConfigDirectory, "credentials.json");

    /// <summary>The saved login for an address, or null.</summary>
    public static SavedLogin? Get(NodeAddress address) => Load().Logins.GetValueOrDefault(address.ToString());

    /// <summary>The pinned TLS key of an address, or null.</summary>
    public static string? GetPin(NodeAddress address) => Load().Pins.GetValueOrDefault(address.ToString());

    /// <summary>Pins the TLS key of an address (trust on first use, made explicit: tio ++ or tio login --fingerprint).</summary>
    public static void SetPin(NodeAddress address, string pin)
    {
        var file = Load();
        file.Pins[address.ToString()] = pin;
        Save(file);
    }

    /// <summary>Saves (or with null removes) the login for an address.</summary>
    public static void Set(NodeAddress address, SavedLogin? login)
    {
        var file = Load();
        if (login is null) file.Logins.Remove(address.ToString());
        else file.Logins[address.ToString()] = login;
        Save(file);
    }

    private static void Save(CredentialsFile file)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        Directory.CreateDirectory(ConfigDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var tmp = FilePath + $".{Environment.ProcessId}.tmp";
        using (var f = new FileStream(tmp, new FileStreamOptions
               {
                   Mode = FileMode.Create, Access = FileAccess.Write,
                   UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
               }))
        {
            JsonSerializer.Serialize(f, file, CredentialsJson.Default.CredentialsFile);
        }
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, FilePath, overwrite: true);
    }

    private static CredentialsFile Load()
    {
        try
        {
            if (!File.Exists(FilePath)) return new CredentialsFile();
            return JsonSerializer.Deserialize(File.ReadAllBytes(FilePath), CredentialsJson.Default.CredentialsFile) ?? new CredentialsFile();
        }
        catch (JsonException e)
        {
            throw new CtlException($"{FilePath}: unreadable ({e.Message}); delete it and log in again");
        }
    }
}
