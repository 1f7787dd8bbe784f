using System.Text.Json;
using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Containers;

/// <summary>
/// What container engines do to a running container besides the lifecycle verbs — the runc verbs containerd's shim
/// calls: <c>ps</c> (its processes, for <c>docker top</c>), <c>pause</c>/<c>resume</c> (the freezer),
/// <c>update</c> (new limits, <c>docker update</c>) and <c>events --stats</c> (cgroup statistics). All of it goes
/// through the container's cgroup, recorded in its state.
/// </summary>
public static class ContainerControl
{
    private static (ContainerRecord Rec, string Dir) Load(RuntimeRoot root, string id)
    {
        Bundle.ValidateId(id);
        var dir = Path.Combine(root.Containers, id);
        return (ContainerRecord.Load(dir, id), dir);
    }

    private static Cgroup CgroupOf(ContainerRecord rec) => Cgroup.Open(rec.CgroupDirs, rec.CgroupV2);

    private static ContainerRecord Running(RuntimeRoot root, string id, string verb)
    {
        var (rec, dir) = Load(root, id);
        var status = rec.Status(dir);
        if (status is not ("running" or "created")) throw new RtException($"cannot {verb} container {id}: it is {status}");
        return rec;
    }

    /// <summary>Host pids of every process in the container (its cgroup), init first when present.</summary>
    public static List<int> Pids(RuntimeRoot root, string id)
    {
        var (rec, dir) = Load(root, id);
        if (rec.Status(dir) == "stopped") return [];
        var pids = CgroupOf(rec).Processes();
        if (pids.Remove(rec.Pid)) pids.Insert(0, rec.Pid);
        return pids;
    }

    /// <summary>What a container has used so far (CPU time, memory); for a container that is not running, zeros.</summary>
    public static CgroupUsage Usage(RuntimeRoot root, string id)
    {
        var (rec, dir) = Load(root, id);
        return rec.Status(dir) == "stopped" ? default : CgroupOf(rec).Usage();
    }

    /// <summary>Freezes every process of a running container.</summary>
    public static void Pause(RuntimeRoot root, string id)
    {
        var rec = Running(root, id, "pause");
        var cg = CgroupOf(rec);
        if (!cg.CanFreeze)
            throw new RtException($"cannot pause container {id}: it has no freezer cgroup (on cgroup v1 only containers with a linux.cgroupsPath join the freezer hierarchy)");
        cg.Freeze();
    }

    /// <summary>Thaws a paused container.</summary>
    public static void Resume(RuntimeRoot root, string id)
    {
        var rec = Running(root, id, "resume");
        var cg = CgroupOf(rec);
        if (!cg.IsFrozen) throw new RtException($"container {id} is not paused");
        cg.Thaw();
    }

    /// <summary>Whether the container is paused (frozen).</summary>
    public static bool IsPaused(RuntimeRoot root, string id)
    {
        var (rec, dir) = Load(root, id);
        return rec.Status(dir) != "stopped" && CgroupOf(rec).IsFrozen;
    }

    /// <summary>Applies new limits (an OCI <c>linux.resources</c> object) to a running container.</summary>
    public static void Update(RuntimeRoot root, string id, SpecResources r, Action<string>? warn)
    {
        var rec = Running(root, id, "update");
        CgroupOf(rec).Update(r, warn);
    }

    /// <summary>Parses an OCI <c>linux.resources</c> JSON object (what <c>runc update --resources</c> reads).</summary>
    public static SpecResources ParseResources(ReadOnlySpan<byte> json, string source)
    {
        try { return JsonSerializer.Deserialize(json, OciJson.Default.SpecResources) ?? throw new RtException($"{source}: null resources"); }
        catch (JsonException e) { throw new RtException($"{source}: invalid resources JSON: {e.Message}"); }
    }

    /// <summary>Writes one runc stats event (<c>{"type":"stats","id":...,"data":{...}}</c>) for a running container.</summary>
    public static void WriteStatsEvent(RuntimeRoot root, string id, Utf8JsonWriter w)
    {
        var rec = Running(root, id, "read the statistics of");
        w.WriteStartObject();
        w.WriteString("type", "stats");
        w.WriteString("id", id);
        w.WritePropertyName("data");
        CgroupOf(rec).WriteStats(w);
        w.WriteEndObject();
    }
}
