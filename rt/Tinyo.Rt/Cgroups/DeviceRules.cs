using System.Globalization;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

/// <summary>Device accesses a rule grants or refuses; the values are the kernel's (<c>BPF_DEVCG_ACC_*</c>).</summary>
[Flags]
public enum DeviceAccess : byte
{
    /// <summary>Creating the node (mknod).</summary>
    Mknod = 1,
    /// <summary>Opening it for reading.</summary>
    Read = 2,
    /// <summary>Opening it for writing.</summary>
    Write = 4,
    /// <summary>rwm.</summary>
    All = 7,
}

/// <summary>One device cgroup rule: allow or deny <see cref="Access"/> to devices of <see cref="Type"/>
/// (<c>a</c> all, <c>b</c> block, <c>c</c> char) with <see cref="Major"/>:<see cref="Minor"/> (-1 for any).</summary>
public readonly record struct DeviceRule(bool Allow, char Type, long Major, long Minor, DeviceAccess Access)
{
    /// <summary>The rule as cgroup v1's <c>devices.allow</c>/<c>devices.deny</c> take it (<c>c 1:3 rwm</c>, <c>a</c>).</summary>
    public string V1Text => Type == 'a' ? "a"
        : $"{Type} {(Major < 0 ? "*" : Major.ToString(CultureInfo.InvariantCulture))}:{(Minor < 0 ? "*" : Minor.ToString(CultureInfo.InvariantCulture))} {AccessText}";

    private string AccessText =>
        ((Access & DeviceAccess.Read) != 0 ? "r" : "") + ((Access & DeviceAccess.Write) != 0 ? "w" : "") + ((Access & DeviceAccess.Mknod) != 0 ? "m" : "");
}

/// <summary>
/// The device rules a container's cgroup gets, the same list for the v1 <c>devices</c> controller and the v2 BPF
/// filter: deny everything, then the spec's <c>linux.resources.devices</c> in order, then (as runc does) the nodes
/// every container gets, so they stay usable whatever the spec denied.
/// </summary>
public static class DeviceRules
{
    private static readonly DeviceRule[] Defaults =
    [
        // mknod of any node is allowed (as Docker does); opening is what the rules below gate.
        new(true, 'c', -1, -1, DeviceAccess.Mknod), new(true, 'b', -1, -1, DeviceAccess.Mknod),
        new(true, 'c', 1, 3, DeviceAccess.All),   // null
        new(true, 'c', 1, 5, DeviceAccess.All),   // zero
        new(true, 'c', 1, 7, DeviceAccess.All),   // full
        new(true, 'c', 1, 8, DeviceAccess.All),   // random
        new(true, 'c', 1, 9, DeviceAccess.All),   // urandom
        new(true, 'c', 5, 0, DeviceAccess.All),   // tty
        new(true, 'c', 5, 1, DeviceAccess.All),   // console
        new(true, 'c', 5, 2, DeviceAccess.All),   // ptmx
        new(true, 'c', 136, -1, DeviceAccess.All), // pts/*
        new(true, 'c', 10, 200, DeviceAccess.All), // net/tun
    ];

    /// <summary>The rules for <paramref name="r"/>, in the order they take effect (later rules win).</summary>
    /// <exception cref="RtException">A rule with a type other than a/b/c, access other than r/w/m letters, or a
    /// major/minor beyond 32 bits.</exception>
    public static List<DeviceRule> For(SpecResources? r)
    {
        var rules = new List<DeviceRule>(2 + (r?.Devices?.Count ?? 0) + Defaults.Length) { new(false, 'a', -1, -1, DeviceAccess.All) };
        var spec = r?.Devices ?? [];
        for (int i = 0; i < spec.Count; i++) rules.Add(Parse(spec[i], i));
        rules.AddRange(Defaults);
        return rules;
    }

    private static DeviceRule Parse(SpecDeviceRule d, int i)
    {
        string where = $"linux.resources.devices[{i}]";
        char type = d.Type switch
        {
            null or "" or "a" => 'a',
            "b" => 'b',
            "c" => 'c',
            _ => throw new RtException($"{where}: type \"{d.Type}\" must be a, b or c"),
        };
        DeviceAccess access = 0;
        foreach (var ch in d.Access ?? "")
            access |= ch switch
            {
                'r' => DeviceAccess.Read,
                'w' => DeviceAccess.Write,
                'm' => DeviceAccess.Mknod,
                _ => throw new RtException($"{where}: access \"{d.Access}\" may only have the letters r, w and m"),
            };
        if (access == 0) access = DeviceAccess.All;
        return new DeviceRule(d.Allow, type, Number(d.Major, where, "major"), Number(d.Minor, where, "minor"), access);
    }

    // A missing or negative number means any (as the v1 path always treated it).
    private static long Number(long? v, string where, string what) => v switch
    {
        null or < 0 => -1,
        > uint.MaxValue => throw new RtException($"{where}: {what} {v} is out of range"),
        _ => v.Value,
    };
}
