using static Tinyo.Linux.Libc;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The secrets of one container as files on a tmpfs of its own, <c>BASE/CONTAINER/NAME</c> (BASE is
/// <c>ROOT/run/secrets</c>, mode 0700: no other host user can reach them), bound read-only into the container at
/// <c>/run/secrets</c>. The tmpfs keeps the plaintext off every disk; it is unmounted when the container is
/// removed and when the node stops (so nothing decrypted outlives the containers that need it).
/// Files are 0444 inside: a container's non-root user must be able to read its own secrets.
/// </summary>
internal sealed class SecretFiles(string baseDir)
{
    /// <summary>The directory (tmpfs mount point) of a container's secrets.</summary>
    public string DirFor(string container) => Path.Combine(baseDir, container);

    /// <summary>Mounts the tmpfs if needed and writes exactly these secrets (others are deleted).</summary>
    public string Ensure(string container, IReadOnlyList<(string Name, byte[] Value)> secrets)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        Directory.CreateDirectory(baseDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(baseDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var dir = DirFor(container);
        Directory.CreateDirectory(dir);
        if (!IsMounted(dir) && Mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=4m,nr_inodes=1024") != 0)
            throw new NodeException($"cannot mount the secrets tmpfs at {dir}: {Describe(Errno)}");
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, value) in secrets)
        {
            keep.Add(name);
            var path = Path.Combine(dir, name);
            var tmp = path + ".tmp";
            using (var f = new FileStream(tmp, new FileStreamOptions
            {
                Mode = FileMode.Create, Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            }))
                f.Write(value);
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(tmp, path, overwrite: true);
        }
        foreach (var f in Directory.EnumerateFiles(dir))
            if (!keep.Contains(Path.GetFileName(f))) File.Delete(f);
        return dir;
    }

    /// <summary>Unmounts and removes a container's secrets directory (nothing to do when absent).</summary>
    public void Remove(string container)
    {
        var dir = DirFor(container);
        if (!Directory.Exists(dir)) return;
        // MNT_DETACH: a container still holding a bind of it keeps its copy until it ends; the host's view is gone now.
        while (IsMounted(dir))
            if (Umount2(dir, MNT_DETACH) != 0) throw new NodeException($"cannot unmount {dir}: {Describe(Errno)}");
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Every container that has a secrets directory (to clean up after apps removed while the node was down).</summary>
    public IEnumerable<string> Containers()
        => Directory.Exists(baseDir) ? Directory.EnumerateDirectories(baseDir).Select(Path.GetFileName).OfType<string>() : [];

    private static bool IsMounted(string dir)
    {
        // /proc/self/mountinfo field 5 is the mount point (octal escapes for space, tab, newline, backslash).
        var want = dir.Replace("\\", "\\134").Replace(" ", "\\040").Replace("\t", "\\011").Replace("\n", "\\012");
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ', 6);
            if (f.Length > 4 && f[4] == want) return true;
        }
        return false;
    }
}
