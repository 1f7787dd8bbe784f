using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

// linux.resources.hugepageLimits: hugetlb.SIZE.limit_in_bytes (v1) or hugetlb.SIZE.max (v2). Kubernetes sends one
// per page size the node has, most of them 0 (no huge pages of that size), so a limit of 0 is a limit, not "unset".
public sealed partial class Cgroup
{
    private void ApplyHugetlb(List<SpecHugepageLimit> limits, bool v2)
    {
        string? dir = v2 ? Directories[0] : HugetlbDirV1();
        for (int i = 0; i < limits.Count; i++)
        {
            var h = limits[i];
            string field = $"linux.resources.hugepageLimits[{i}] (pageSize {h.PageSize})";
            if (h.PageSize.Length == 0 || !h.PageSize.All(char.IsAsciiLetterOrDigit))
                throw new RtException($"{field}: not a page size (such as 2MB or 1GB)");
            if (dir is null)
                throw new RtException($"{field}: the container has no hugetlb cgroup (the host mounts none); refusing to run the container without it");
            string file = v2 ? $"hugetlb.{h.PageSize}.max" : $"hugetlb.{h.PageSize}.limit_in_bytes";
            WriteLimit(dir, file, h.Limit == ulong.MaxValue ? (v2 ? "max" : "-1") : h.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
                field, file + ": no hugetlb controller, or no huge pages of that size");
        }
    }

    /// <summary>The v1 hugetlb directory: the one holding any <c>hugetlb.*</c> file.</summary>
    private string? HugetlbDirV1()
    {
        foreach (var d in Directories)
            if (Directory.EnumerateFiles(d, "hugetlb.*").Any()) return d;
        return null;
    }
}
