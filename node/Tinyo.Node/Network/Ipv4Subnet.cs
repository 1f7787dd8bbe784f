using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace Tinyo.Node.Network;

/// <summary>An IPv4 subnet as a base address and prefix length (10.88.3.0/24), with the arithmetic IPAM needs.</summary>
public readonly record struct Ipv4Subnet
{
    /// <summary>A subnet; the base's host bits must be zero.</summary>
    public Ipv4Subnet(uint baseAddress, int prefixLength)
    {
        if ((uint)prefixLength > 32) throw new NodeException($"prefix length {prefixLength} is not 0..32");
        Base = baseAddress;
        PrefixLength = prefixLength;
        if ((Base & ~Mask) != 0) throw new NodeException($"{Format(baseAddress)}/{prefixLength} has host bits set");
    }

    /// <summary>The network address as a host-order number.</summary>
    public uint Base { get; }

    /// <summary>Prefix length.</summary>
    public int PrefixLength { get; }

    /// <summary>The netmask as a host-order number.</summary>
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    /// <summary>Number of addresses (including network and broadcast).</summary>
    public long Size => 1L << (32 - PrefixLength);

    /// <summary>The last address (broadcast).</summary>
    public uint Last => Base | ~Mask;

    /// <summary>Whether <paramref name="address"/> lies inside.</summary>
    public bool Contains(uint address) => (address & Mask) == Base;

    /// <summary>The address at <paramref name="offset"/> from the base.</summary>
    public IPAddress At(long offset) => ToAddress((uint)(Base + offset));

    /// <summary>Parses "A.B.C.D/N"; a clear error otherwise.</summary>
    public static Ipv4Subnet Parse(string text)
    {
        var slash = text.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(text.AsSpan(0, slash), out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var len) || len > 32
            || text.Count(c => c == '.') != 3)
            throw new NodeException($"'{text}' is not an IPv4 subnet (A.B.C.D/N)");
        return new Ipv4Subnet(ToUInt(ip), len);
    }

    /// <summary>A host-order number of an IPv4 address.</summary>
    public static uint ToUInt(IPAddress ip)
    {
        Span<byte> b = stackalloc byte[4];
        if (!ip.TryWriteBytes(b, out var n) || n != 4) throw new NodeException($"{ip} is not an IPv4 address");
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    /// <summary>The address of a host-order number.</summary>
    public static IPAddress ToAddress(uint a)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, a);
        return new IPAddress(b);
    }

    /// <summary>Dotted form of a host-order number.</summary>
    public static string Format(uint a) => ToAddress(a).ToString();

    /// <inheritdoc/>
    public override string ToString() => $"{Format(Base)}/{PrefixLength}";
}
