using System.Globalization;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

// linux.resources.rdma: rdma.max, the same file and format in v1 and v2.
public sealed partial class Cgroup
{
    private void ApplyRdma(Dictionary<string, SpecRdma> rdma, bool v2)
    {
        foreach (var (dev, r) in rdma)
        {
            string field = $"linux.resources.rdma.{dev}";
            if (dev.Length == 0 || dev.Any(c => c <= ' ' || c == '/'))
                throw new RtException($"{field}: not an RDMA device name");
            var dir = (v2 ? Directories[0] : DirOf("rdma.max"))
                ?? throw new RtException($"{field}: the container has no rdma cgroup (the host mounts none); refusing to run the container without it");
            static string Max(uint? v) => v is { } n ? n.ToString(CultureInfo.InvariantCulture) : "max";
            WriteLimit(dir, "rdma.max", $"{dev} hca_handle={Max(r.HcaHandles)} hca_object={Max(r.HcaObjects)}", field, "rdma.max: no rdma controller");
        }
    }

    /// <summary><c>linux.resources.unified</c>: each key a control file of the container's v2 cgroup, written as given.</summary>
    private void ApplyUnified(Dictionary<string, string> unified)
    {
        foreach (var (key, value) in unified)
        {
            string field = $"linux.resources.unified[\"{key}\"]";
            if (!IsV2) throw new RtException($"{field}: the host's cgroups are v1; unified keys need cgroup v2");
            if (key.Length == 0 || key.Contains('/') || key.StartsWith('.'))
                throw new RtException($"{field}: not a control file name");
            WriteLimit(Directories[0], key, value, field, key + ": no such control file (controller not enabled?)");
        }
    }
}
