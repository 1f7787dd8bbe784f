using System.Globalization;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

// linux.resources.blockIO: the v1 blkio controller's weight and throttle files, or v2's io.weight/io.bfq.weight and
// io.max. A field the host cannot enforce (no blkio hierarchy, no CFQ/BFQ weight file, leaf weights on v2) is refused
// with its name, as runc does, rather than ignored.
public sealed partial class Cgroup
{
    private const string BlkioField = "linux.resources.blockIO";

    /// <summary>Whether <paramref name="b"/> asks for anything (engines send an empty <c>blockIO</c> object).</summary>
    internal static bool WantsBlkio(SpecBlockIO? b) =>
        b is not null && (b.Weight is > 0 || b.LeafWeight is > 0 || b.WeightDevice is { Count: > 0 }
            || b.ThrottleReadBpsDevice is { Count: > 0 } || b.ThrottleWriteBpsDevice is { Count: > 0 }
            || b.ThrottleReadIOPSDevice is { Count: > 0 } || b.ThrottleWriteIOPSDevice is { Count: > 0 });

    private void ApplyBlkioV1(SpecBlockIO b)
    {
        if (!WantsBlkio(b)) return;
        // blkio.reset_stats exists in every v1 blkio cgroup, whichever I/O scheduler the disks use.
        var dir = DirOf("blkio.reset_stats")
            ?? throw new RtException($"{BlkioField}: the container has no blkio cgroup (none is mounted, or it was created without one)");
        bool bfq = File.Exists(dir + "/blkio.bfq.weight");
        string weightFile = bfq ? "blkio.bfq.weight" : "blkio.weight";
        if (b.Weight is { } w && w > 0)
            WriteLimit(dir, weightFile, N(w), BlkioField + ".weight", "blkio.weight or blkio.bfq.weight: no CFQ/BFQ I/O scheduler");
        if (b.LeafWeight is { } lw && lw > 0)
            WriteLimit(dir, "blkio.leaf_weight", N(lw), BlkioField + ".leafWeight", "blkio.leaf_weight: CFQ only");
        foreach (var d in b.WeightDevice ?? [])
        {
            if (d.Weight is { } dw && dw > 0)
                WriteLimit(dir, bfq ? "blkio.bfq.weight_device" : "blkio.weight_device", $"{d.Major}:{d.Minor} {dw}",
                    BlkioField + ".weightDevice", "blkio.weight_device or blkio.bfq.weight_device: no CFQ/BFQ I/O scheduler");
            if (d.LeafWeight is { } dl && dl > 0)
                WriteLimit(dir, "blkio.leaf_weight_device", $"{d.Major}:{d.Minor} {dl}", BlkioField + ".weightDevice[].leafWeight", "blkio.leaf_weight_device: CFQ only");
        }
        Throttle(b.ThrottleReadBpsDevice, "throttleReadBpsDevice", "blkio.throttle.read_bps_device");
        Throttle(b.ThrottleWriteBpsDevice, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device");
        Throttle(b.ThrottleReadIOPSDevice, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device");
        Throttle(b.ThrottleWriteIOPSDevice, "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device");

        void Throttle(List<SpecThrottleDevice>? l, string field, string file)
        {
            foreach (var t in l ?? [])
                WriteLimit(dir, file, $"{t.Major}:{t.Minor} {t.Rate}", $"{BlkioField}.{field}", file + ": no blk-throttle in this kernel");
        }
    }

    private void ApplyIoV2(string d, SpecBlockIO b)
    {
        if (!WantsBlkio(b)) return;
        if (b.LeafWeight is > 0 || b.WeightDevice?.Any(x => x.LeafWeight is > 0) == true)
            throw new RtException($"{BlkioField}.leafWeight: cgroup v2 has no leaf weights (refusing rather than ignoring it)");
        bool bfq = File.Exists(d + "/io.bfq.weight");
        const string NoWeight = "io.weight or io.bfq.weight: the io controller is not enabled for this cgroup";
        // io.bfq.weight takes the blkio range as is; io.weight (1..10000) gets runc's conversion of 10..1000.
        static string Conv(uint w) => N(1 + ((long)Math.Clamp(w, 10u, 1000u) - 10) * 9999 / 990);
        if (b.Weight is { } w && w > 0)
            WriteLimit(d, bfq ? "io.bfq.weight" : "io.weight", bfq ? N(w) : "default " + Conv(w), BlkioField + ".weight", NoWeight);
        foreach (var x in b.WeightDevice ?? [])
            if (x.Weight is { } dw && dw > 0)
                WriteLimit(d, bfq ? "io.bfq.weight" : "io.weight", $"{x.Major}:{x.Minor} " + (bfq ? N(dw) : Conv(dw)), BlkioField + ".weightDevice", NoWeight);
        Max(b.ThrottleReadBpsDevice, "throttleReadBpsDevice", "rbps");
        Max(b.ThrottleWriteBpsDevice, "throttleWriteBpsDevice", "wbps");
        Max(b.ThrottleReadIOPSDevice, "throttleReadIOPSDevice", "riops");
        Max(b.ThrottleWriteIOPSDevice, "throttleWriteIOPSDevice", "wiops");

        void Max(List<SpecThrottleDevice>? l, string field, string key)
        {
            foreach (var t in l ?? [])
                WriteLimit(d, "io.max", $"{t.Major}:{t.Minor} {key}=" + (t.Rate == 0 ? "max" : t.Rate.ToString(CultureInfo.InvariantCulture)),
                    $"{BlkioField}.{field}", "io.max: the io controller is not enabled for this cgroup");
        }
    }

    /// <summary>
    /// Writes a limit's control file; a file the cgroup does not have (the host cannot enforce that limit) and a value
    /// the kernel refuses are errors naming the spec field, never skipped.
    /// </summary>
    private static void WriteLimit(string dir, string file, string value, string field, string missing)
    {
        if (!File.Exists(dir + "/" + file))
            throw new RtException($"{field}: this host cannot enforce it ({missing}); refusing to run the container without it");
        try { Write(dir, file, value); }
        catch (RtException e) { throw new RtException($"{field}: {e.Message}", e); }
    }
}
