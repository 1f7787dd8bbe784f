using System.Text;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// The parent directories the runtime had to create for a container's cgroup (<c>testdir/</c> and
/// <c>testdir/cgrouptest/</c> for <c>linux.cgroupsPath: testdir/cgrouptest/container</c>), remembered so that the last
/// container out removes them again — and never a directory someone else made.
/// </summary>
/// <remarks>
/// A container's state records only its own cgroup directories, and a cgroup directory cannot hold a marker file, so
/// each made parent gets a marker in <see cref="Dir"/> (a tmpfs, cleared at boot like the cgroups themselves): a file
/// named after the hash of the directory's path, holding the path. rmdir(2) of a cgroup fails while it has children,
/// so removing a parent never disturbs a sibling container; a create racing with the removal recreates what it needs
/// (<see cref="Cgroup"/>'s MakeDirs). The shared default parent (<c>tinyo/</c>) is handled by name, not here.
/// </remarks>
public static class CgroupAncestors
{
    /// <summary>Where the markers are.</summary>
    public const string Dir = "/run/tinyo-cgroups";

    /// <summary>Records that the runtime created the cgroup parent <paramref name="dir"/>.</summary>
    public static void Made(string dir)
    {
        var marker = MarkerOf(dir);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Directory.CreateDirectory(Dir);
                File.WriteAllText(marker, dir);
                return;
            }
            // The directory vanished between the two calls: the last marker of another container was just removed.
            catch (DirectoryNotFoundException) when (attempt < 10) { }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RtException($"recording the cgroup parent {dir} in {Dir}: {e.Message}");
            }
        }
    }

    /// <summary>Whether the runtime created <paramref name="dir"/> (and has not removed it since).</summary>
    public static bool WasMade(string dir) => File.Exists(MarkerOf(dir));

    /// <summary>
    /// Removes the parents of <paramref name="leaf"/> that the runtime created, from the nearest up, while they are
    /// empty; stops at the first one that is in use or was not made by the runtime.
    /// </summary>
    public static void RemoveUnused(string leaf)
    {
        for (var d = Path.GetDirectoryName(leaf); d is { Length: > 1 }; d = Path.GetDirectoryName(d))
        {
            var marker = MarkerOf(d);
            if (!File.Exists(marker)) return;
            if (Directory.Exists(d))
            {
                try { Directory.Delete(d); }
                catch (IOException) { return; } // another container (or anything else) is below it: it stays
                catch (UnauthorizedAccessException) { return; }
            }
            Forget(marker);
        }
    }

    /// <summary>Removes <paramref name="dir"/> if it is empty and the runtime made it (a create that failed).</summary>
    public static void RemoveIfUnused(string dir)
    {
        var marker = MarkerOf(dir);
        if (!File.Exists(marker)) return;
        try { if (Directory.Exists(dir)) Directory.Delete(dir); }
        catch (IOException) { return; }
        catch (UnauthorizedAccessException) { return; }
        Forget(marker);
    }

    private static void Forget(string marker)
    {
        try { File.Delete(marker); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        // The last marker out removes the directory, so a host without such parents has nothing here.
        try { Directory.Delete(Dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The marker's name is the directory's path itself, escaped into one file name ('%' → %25, '/' → %2F); a path too
    /// long for that gets an FNV-1a hash of it. Not SHA-256: hashing through OpenSSL loads libssl and libcrypto into
    /// every `tinyort run` when its container exits (≈ 1.4 ms of wall time on the start benchmark), and the start path
    /// loads no OpenSSL.
    /// </summary>
    private static string MarkerOf(string dir)
    {
        var name = dir.Replace("%", "%25", StringComparison.Ordinal).Replace("/", "%2F", StringComparison.Ordinal);
        if (name.Length > 200)
        {
            ulong h = 14695981039346656037;
            foreach (var b in Encoding.UTF8.GetBytes(dir)) h = (h ^ b) * 1099511628211;
            name = "fnv-" + h.ToString("x16", System.Globalization.CultureInfo.InvariantCulture) + "-" + dir.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return Path.Combine(Dir, name);
    }
}
