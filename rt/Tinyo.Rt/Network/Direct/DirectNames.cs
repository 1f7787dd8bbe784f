namespace Tinyo.Rt.Network.Direct;

/// <summary>The name checks the direct paths share: a name becomes one path component on the host, never more.</summary>
internal static class DirectNames
{
    /// <summary>A cluster or region name: 1-63 of [a-z0-9-], not starting or ending with '-'.</summary>
    public static void Check(string name, string what)
    {
        bool ok = name.Length is > 0 and <= 63 && name[0] != '-' && name[^1] != '-';
        foreach (var c in name) ok &= c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-';
        if (!ok) throw new RtException($"'{name}' is not a valid {what} name (1-63 of a-z, 0-9 and '-')");
    }

    /// <summary>A socket file name: one component, no '/', not . or .., no NUL, at most 92 bytes.</summary>
    public static void CheckFile(string file)
    {
        if (file.Length is 0 or > 92 || file is "." or ".." || file.Contains('/') || file.Contains('\0'))
            throw new RtException($"'{file}' is not a socket file name (one name in {ClusterSockets.ContainerPath}, without '/' or '..')");
    }
}
