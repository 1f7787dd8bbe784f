using System.Text;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Rootfs;

/// <summary>
/// The overlayfs root of an image container: the image's unpacked layers as read-only lower directories (shared by
/// every container of the image, never written), a per-container upper and work directory for its writes.
/// </summary>
/// <remarks>
/// <para><b>Where it is mounted.</b> By the container's init, inside the container's fresh mount namespace, right
/// after <c>/</c> is made rslave and in place of the usual rootfs self-bind (<see cref="RootfsBuilder"/>). The host
/// never sees the mount: nothing can leak if tinyort is killed, and the kernel removes it when the container's last
/// process exits. The price: the rootfs is only visible through <c>/proc/PID/root</c> while the container runs.</para>
/// <para><b>Long layer lists.</b> mount(2) takes at most one page of options. When the classic
/// <c>lowerdir=a:b:c</c> string would not fit, the layers are added one by one with the new mount API
/// (<c>fsconfig(FSCONFIG_SET_STRING, "lowerdir+")</c>, Linux 6.8+) and the mount is attached with move_mount.</para>
/// </remarks>
internal static class Overlay
{
    /// <summary>The largest option string handed to mount(2) (one page, minus the terminator).</summary>
    internal const int MaxOptions = 4095;

    /// <summary>Mounts the overlay of <paramref name="lowerTopFirst"/> on <paramref name="target"/>.</summary>
    public static void Mount(IReadOnlyList<string> lowerTopFirst, string upper, string work, string target)
    {
        foreach (var l in lowerTopFirst) CheckPath(l);
        CheckPath(upper);
        CheckPath(work);
        var opts = Options(lowerTopFirst, upper, work);
        if (Encoding.UTF8.GetByteCount(opts) <= MaxOptions)
        {
            if (Linux.Libc.Mount("overlay", target, "overlay", MS_NODEV, opts) != 0) throw Error("mounting the overlay rootfs on", target);
            return;
        }
        MountLong(lowerTopFirst, upper, work, target);
    }

    /// <summary>The classic option string; <c>index=off</c> and <c>xino=off</c> keep the upper layer portable and
    /// the mount independent of other overlays of the same layers.</summary>
    internal static string Options(IReadOnlyList<string> lowerTopFirst, string upper, string work) =>
        "lowerdir=" + string.Join(':', lowerTopFirst) + ",upperdir=" + upper + ",workdir=" + work + ",index=off,xino=off";

    private static void MountLong(IReadOnlyList<string> lowerTopFirst, string upper, string work, string target)
    {
        int fs = -1, mnt = -1;
        try
        {
            fs = Fsopen("overlay", FSOPEN_CLOEXEC);
            if (fs < 0) throw Error("fsopen overlay");
            // lowerdir+ appends below the ones given so far: top layer first, as in lowerdir=.
            foreach (var l in lowerTopFirst)
                if (Fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l, 0) != 0) throw Error("overlay lowerdir+ (needs Linux 6.8+)", l);
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) != 0) throw Error("overlay upperdir", upper);
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) != 0) throw Error("overlay workdir", work);
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0) != 0) throw Error("overlay index=off");
            if (Fsconfig(fs, FSCONFIG_CMD_CREATE, null, null, 0) != 0) throw Error("creating the overlay rootfs");
            mnt = Fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
            if (mnt < 0) throw Error("fsmount overlay");
            if (MoveMount(mnt, "", AT_FDCWD_, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) throw Error("attaching the overlay rootfs on", target);
        }
        finally
        {
            if (mnt >= 0) SysClose(mnt);
            if (fs >= 0) SysClose(fs);
        }
    }

    // The option string is comma- and colon-separated: a path containing either (or a backslash) cannot be expressed.
    // Our paths come from the runtime root and layer digests, so this only rejects an odd --root.
    internal static void CheckPath(string p)
    {
        if (!p.StartsWith('/') || p.AsSpan().IndexOfAny(",:\\") >= 0)
            throw new RtException($"overlay path \"{p}\" must be absolute and contain no ',', ':' or '\\'");
    }
}

/// <summary>The directories of an image container's overlay root.</summary>
/// <param name="LowerTopFirst">Unpacked layer directories, top layer first.</param>
/// <param name="Upper">Per-container upper directory.</param>
/// <param name="Work">Per-container work directory, on the upper's filesystem.</param>
public sealed record OverlayLayers(IReadOnlyList<string> LowerTopFirst, string Upper, string Work);
