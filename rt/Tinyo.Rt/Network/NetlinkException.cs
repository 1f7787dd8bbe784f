using System.Runtime.InteropServices;

namespace Tinyo.Rt.Network;

/// <summary>A request the kernel refused: the operation, the errno and the kernel's own words when it gave some
/// ("creating bridge tyb0: File exists").</summary>
public sealed class NetlinkException(string operation, int errno, string? kernelMessage)
    : RtException($"{operation}: {Marshal.GetPInvokeErrorMessage(errno)}{(kernelMessage is { Length: > 0 } k ? $" ({k})" : "")}")
{
    /// <summary>What was being done.</summary>
    public string Operation { get; } = operation;

    /// <summary>The errno the kernel answered (EEXIST = 17, ENODEV = 19, ...).</summary>
    public int Errno { get; } = errno;
}
