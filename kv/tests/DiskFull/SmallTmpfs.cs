using System.Diagnostics;

namespace Tinyo.Kv.Tests.DiskFull;

/// <summary>
/// A tmpfs of a few MiB mounted on a private temp directory, so a test can fill "the disk" without touching the
/// host's. Unmounted (lazily, so a process still holding files cannot keep it) and removed on dispose.
/// </summary>
public sealed class SmallTmpfs : IDisposable
{
    /// <summary>The mount point.</summary>
    public string Dir { get; }

    /// <summary>Why no tmpfs could be mounted (not root, no mount(8)); null when <see cref="Dir"/> is one.</summary>
    public string? Unavailable { get; }

    /// <summary>Mounts a tmpfs of <paramref name="mib"/> MiB on a new temp directory.</summary>
    public SmallTmpfs(int mib)
    {
        Dir = Directory.CreateTempSubdirectory("tinyo-diskfull-").FullName;
        var (code, err) = Run("mount", "-t", "tmpfs", "-o", $"size={mib}m,mode=0755", "tmpfs", Dir);
        if (code != 0) Unavailable = $"cannot mount a tmpfs ({err.Trim()})";
    }

    /// <summary>Writes a file of zeros until the filesystem is full; returns how many bytes it took.</summary>
    public long Fill(string name = "filler")
    {
        var path = Path.Combine(Dir, name);
        var buf = new byte[64 << 10];
        long n = 0;
        using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1);
        try
        {
            while (true)
            {
                f.Write(buf);
                n += buf.Length;
            }
        }
        catch (IOException)
        {
            // ENOSPC: full. Write what still fits in smaller pieces so that not even one page is left.
            for (var size = 32 << 10; size >= 512; size /= 2)
            {
                try
                {
                    while (true)
                    {
                        f.Write(buf, 0, size);
                        n += size;
                    }
                }
                catch (IOException)
                {
                }
            }
        }
        return n;
    }

    /// <summary>Bytes still free.</summary>
    public long Free => new DriveInfo(Dir).AvailableFreeSpace;

    private static (int Code, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, err);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    /// <summary>Unmounts and removes the directory.</summary>
    public void Dispose()
    {
        if (Unavailable is null) Run("umount", "-l", Dir);
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
