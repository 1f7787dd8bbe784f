using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

// linux.resources.network: net_cls.classid and net_prio.ifpriomap, v1 controllers that cgroup v2 does not have.
public sealed partial class Cgroup
{
    private const string NetworkField = "linux.resources.network";

    /// <summary>Whether <paramref name="n"/> asks for anything.</summary>
    internal static bool WantsNetClass(SpecNetwork? n) => n?.ClassID is not null;
    /// <summary>Whether <paramref name="n"/> asks for interface priorities.</summary>
    internal static bool WantsNetPrio(SpecNetwork? n) => n?.Priorities is { Count: > 0 };

    private void ApplyNetwork(SpecNetwork n, bool v2)
    {
        if (!WantsNetClass(n) && !WantsNetPrio(n)) return;
        if (v2)
            throw new RtException($"{NetworkField}: cgroup v2 has no net_cls or net_prio controller; refusing to run the container without it");
        if (n.ClassID is { } id)
        {
            var dir = DirOf("net_cls.classid")
                ?? throw new RtException($"{NetworkField}.classID: the container has no net_cls cgroup (the host mounts none); refusing to run the container without it");
            WriteLimit(dir, "net_cls.classid", N(id), NetworkField + ".classID", "net_cls.classid");
        }
        if (n.Priorities is { Count: > 0 } prios)
        {
            var dir = DirOf("net_prio.ifpriomap")
                ?? throw new RtException($"{NetworkField}.priorities: the container has no net_prio cgroup (the host mounts none); refusing to run the container without it");
            for (int i = 0; i < prios.Count; i++)
            {
                var p = prios[i];
                if (p.Name.Length == 0 || p.Name.Any(c => c <= ' ' || c == '/'))
                    throw new RtException($"{NetworkField}.priorities[{i}].name: not an interface name: \"{p.Name}\"");
                WriteLimit(dir, "net_prio.ifpriomap", $"{p.Name} {p.Priority}", $"{NetworkField}.priorities[{i}] ({p.Name})", "net_prio.ifpriomap");
            }
        }
    }
}
