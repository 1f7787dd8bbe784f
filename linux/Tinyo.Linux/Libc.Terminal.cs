using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Pseudo-terminals and passing file descriptors over unix sockets (SCM_RIGHTS): process.terminal and --console-socket.
internal static unsafe partial class Libc
{
    public const ulong TIOCGPTN = 0x80045430, TIOCSPTLCK = 0x40045431, TIOCGPTPEER = 0x5441, TIOCSCTTY = 0x540E,
        TIOCSWINSZ = 0x5414, TIOCGWINSZ = 0x5413, TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403;
    public const int SOCK_STREAM = 1, SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;
    public const long SYS_setsid = 112, SYS_ioctl = 16, SYS_read = 0;
    public const int SO_PASSCRED = 16, SCM_CREDENTIALS = 2;

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SysSetsockopt(int fd, int level, int name, void* value, uint len);

    /// <summary>
    /// Receives one message on a socket with SO_PASSCRED set and returns the sender's pid from its SCM_CREDENTIALS
    /// (translated into our pid namespace by the kernel), or -1.
    /// </summary>
    public static int RecvCredPid(int sock)
    {
        byte* control = stackalloc byte[64];
        new Span<byte>(control, 64).Clear();
        byte b;
        var iov = new IoVec { Base = &b, Len = 1 };
        var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
        nint n;
        do n = SysRecvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && Errno == Errno_.EINTR);
        if (n <= 0) return -1;
        nuint off = 0;
        while (off + 16 <= msg.ControlLen)
        {
            ulong len = *(ulong*)(control + off);
            if (len < 16) break;
            int level = *(int*)(control + off + 8), type = *(int*)(control + off + 12);
            if (level == SOL_SOCKET && type == SCM_CREDENTIALS && len >= 28) return *(int*)(control + off + 16); // struct ucred { pid, uid, gid }
            off += (nuint)((len + 7) & ~7UL);
        }
        return -1;
    }

    /// <summary>struct winsize.</summary>
    public struct WinSize { public ushort Rows, Cols, XPixel, YPixel; }

    /// <summary>struct termios as the kernel's TCGETS/TCSETS take it (glibc's has extra speed fields we do not use).</summary>
    public struct KTermios
    {
        public uint Iflag, Oflag, Cflag, Lflag;
        public byte Line;
        public fixed byte Cc[19];
    }

    /// <summary>struct msghdr.</summary>
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    /// <summary>struct iovec.</summary>
    public struct IoVec { public void* Base; public nuint Len; }

    /// <summary>struct sockaddr_un.</summary>
    public struct SockaddrUn
    {
        public ushort Family;
        public fixed byte Path[108];
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SysSendmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint SysRecvmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int SysConnect(int fd, void* addr, uint len);

    /// <summary>ioctl(2) with an integer argument (TIOCGPTPEER's open flags).</summary>
    public static int SysIoctlInt(int fd, ulong request, int arg) => SysIoctl(fd, request, (void*)(nint)arg);

    [LibraryImport("libc", EntryPoint = "dup3", SetLastError = true)]
    public static partial int SysDup3(int oldfd, int newfd, int flags);

    [LibraryImport("libc", EntryPoint = "isatty")]
    public static partial int IsAtty(int fd);

    /// <summary>
    /// Sends <paramref name="payload"/> with one descriptor attached (SCM_RIGHTS) — runc's <c>utils.SendFile</c>:
    /// the payload is the file's name, the descriptor rides in the control message.
    /// </summary>
    public static bool SendFd(int sock, int fd, ReadOnlySpan<byte> payload)
    {
        // CMSG_SPACE(sizeof(int)) = 24 on 64-bit: header (len 8, level 4, type 4) + int, aligned to 8.
        byte* control = stackalloc byte[24];
        new Span<byte>(control, 24).Clear();
        *(ulong*)control = 20; // CMSG_LEN(sizeof(int))
        *(int*)(control + 8) = SOL_SOCKET;
        *(int*)(control + 12) = SCM_RIGHTS;
        *(int*)(control + 16) = fd;
        fixed (byte* p = payload)
        {
            byte one = 0;
            var iov = new IoVec { Base = payload.Length > 0 ? p : &one, Len = (nuint)Math.Max(payload.Length, 1) };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 24 };
            nint n;
            do n = SysSendmsg(sock, &msg, 0x4000 /* MSG_NOSIGNAL */);
            while (n < 0 && Errno == Errno_.EINTR);
            return n > 0;
        }
    }

    /// <summary>
    /// Receives one message into <paramref name="buf"/> and the descriptor attached to it (close-on-exec), or -1 in
    /// <paramref name="fd"/> when none came. Returns the payload length (0 at EOF, -1 on error).
    /// </summary>
    public static int RecvFd(int sock, Span<byte> buf, out int fd)
    {
        fd = -1;
        byte* control = stackalloc byte[64];
        new Span<byte>(control, 64).Clear();
        fixed (byte* p = buf)
        {
            var iov = new IoVec { Base = p, Len = (nuint)buf.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
            nint n;
            do n = SysRecvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
            while (n < 0 && Errno == Errno_.EINTR);
            if (n < 0) return -1;
            // Walk the control messages: a single SCM_RIGHTS with at least one int is what we expect.
            nuint off = 0;
            while (off + 16 <= msg.ControlLen)
            {
                ulong len = *(ulong*)(control + off);
                if (len < 16) break;
                int level = *(int*)(control + off + 8), type = *(int*)(control + off + 12);
                if (level == SOL_SOCKET && type == SCM_RIGHTS && len >= 20)
                {
                    int count = (int)((len - 16) / 4);
                    for (int i = 0; i < count; i++)
                    {
                        int got = *(int*)(control + off + 16 + (nuint)(4 * i));
                        if (fd < 0) fd = got; else SysClose(got); // never keep more than we asked for
                    }
                }
                off += (nuint)((len + 7) & ~7UL);
            }
            return (int)n;
        }
    }

    /// <summary>Connects a new stream socket to the unix socket at <paramref name="path"/>; returns it or -1.</summary>
    public static int ConnectUnix(string path)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(path);
        if (b.Length >= 108) { Marshal.SetLastPInvokeError(36 /* ENAMETOOLONG */); return -1; }
        int s = SysSocket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) return -1;
        var addr = new SockaddrUn { Family = AF_UNIX };
        for (int i = 0; i < b.Length; i++) addr.Path[i] = b[i];
        if (SysConnect(s, &addr, (uint)(2 + b.Length + 1)) != 0)
        {
            int e = Errno;
            SysClose(s);
            Marshal.SetLastPInvokeError(e);
            return -1;
        }
        return s;
    }
}
