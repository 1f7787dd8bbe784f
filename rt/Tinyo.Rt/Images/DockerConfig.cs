using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tinyo.Rt.Images;

/// <summary>
/// Registry credentials from Docker's client config: <c>$DOCKER_CONFIG/config.json</c> or
/// <c>~/.docker/config.json</c>, entries <c>auths.HOST.auth</c> = base64(<c>user:password</c>). Credential helpers
/// (<c>credsStore</c>) are not run: Tinyo never executes programs named by a config file.
/// </summary>
public static class DockerConfig
{
    private const int MaxSize = 1 << 20;

    /// <summary>The config file consulted: <c>$DOCKER_CONFIG/config.json</c>, else <c>$HOME/.docker/config.json</c>.</summary>
    public static string? ConfigPath
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
            if (string.IsNullOrEmpty(dir))
            {
                var home = Environment.GetEnvironmentVariable("HOME");
                if (string.IsNullOrEmpty(home)) return null;
                dir = Path.Combine(home, ".docker");
            }
            return Path.Combine(dir, "config.json");
        }
    }

    /// <summary>
    /// The user and password stored for <paramref name="registryDomain"/> (as in the image reference, e.g.
    /// <c>docker.io</c> or <c>127.0.0.1:5000</c>), or null when there are none. A malformed file is an error.
    /// </summary>
    public static (string User, string Password)? Lookup(string registryDomain)
    {
        var path = ConfigPath;
        if (path is null || !File.Exists(path)) return null;
        byte[] bytes;
        try
        {
            using var f = File.OpenRead(path);
            if (f.Length > MaxSize) throw new RtException($"{path}: larger than 1 MiB");
            bytes = new byte[f.Length];
            f.ReadExactly(bytes);
        }
        catch (IOException e)
        {
            throw new RtException($"cannot read {path}: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RtException($"cannot read {path}: {e.Message}");
        }
        DockerConfigFile? cfg;
        try
        {
            cfg = JsonSerializer.Deserialize(bytes, ImageJsonContext.Default.DockerConfigFile);
        }
        catch (JsonException e)
        {
            throw new RtException($"{path}: not valid JSON ({e.Message})");
        }
        if (cfg?.Auths is null) return null;
        var want = NormaliseKey(registryDomain);
        foreach (var (key, entry) in cfg.Auths)
        {
            if (NormaliseKey(key) != want || entry is null) continue;
            if (!string.IsNullOrEmpty(entry.Auth))
            {
                string decoded;
                try
                {
                    decoded = Encoding.UTF8.GetString(Convert.FromBase64String(entry.Auth));
                }
                catch (FormatException)
                {
                    throw new RtException($"{path}: auths.{key}.auth is not valid base64");
                }
                var colon = decoded.IndexOf(':');
                if (colon <= 0) throw new RtException($"{path}: auths.{key}.auth is not base64 of user:password");
                return (decoded[..colon], decoded[(colon + 1)..]);
            }
            if (!string.IsNullOrEmpty(entry.Username) && entry.Password is not null)
                return (entry.Username, entry.Password);
        }
        return null;
    }

    /// <summary>Reduces <c>https://index.docker.io/v1/</c>, <c>registry-1.docker.io</c>, <c>HOST/</c> … to a bare domain.</summary>
    internal static string NormaliseKey(string key)
    {
        var k = key.Trim();
        var scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) k = k[(scheme + 3)..];
        var slash = k.IndexOf('/');
        if (slash >= 0) k = k[..slash];
        k = k.ToLowerInvariant();
        return k is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? ImageReference.DockerHubDomain : k;
    }
}

internal sealed class DockerConfigFile
{
    [JsonPropertyName("auths")] public Dictionary<string, DockerAuthEntry?>? Auths { get; set; }
}

internal sealed class DockerAuthEntry
{
    [JsonPropertyName("auth")] public string? Auth { get; set; }
    [JsonPropertyName("username")] public string? Username { get; set; }
    [JsonPropertyName("password")] public string? Password { get; set; }
}
