namespace Tinyo.Rt.Images;

/// <summary>Recognises a full disk (ENOSPC, or EDQUOT: a quota is full) in the exceptions a pull can end with.</summary>
internal static class NoSpace
{
    /// <summary>The words every message about a full disk carries, so users and tests can find it.</summary>
    public const string Message = "no space left on device";

    private const int ENOSPC = 28, EDQUOT = 122;

    /// <summary>True when <paramref name="e"/> or an inner exception says the disk (or a quota) is full.</summary>
    public static bool Is(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            // .NET's IOException on Unix carries the errno as its HResult; an RtException from Libc.Error carries
            // strerror's text only.
            if (x is IOException && x.HResult is ENOSPC or EDQUOT) return true;
            if (x.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
                || x.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }
}
