using Tinyo.Rt.Oci;
using Tinyo.Rt.Setup;

namespace Tinyo.Rt.Duplicate;

/// <summary>What to duplicate, into what: <c>tinyort dup SOURCE NEW [-n N]</c>, or the node scaling an app up.</summary>
public sealed class DuplicateRequest
{
    /// <summary>The running container to duplicate: its name or id.</summary>
    public string Source { get; set; } = "";

    /// <summary>The new container's name; with <see cref="Count"/> &gt; 1, <c>NAME-1</c> … <c>NAME-N</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>How many clones (1 to <see cref="ContainerDuplicator.MaxCount"/>).</summary>
    public int Count { get; set; } = 1;

    /// <summary>Exact names of the clones (the node's <c>APP-4</c>, <c>APP-5</c>); when set, <see cref="Name"/> and
    /// <see cref="Count"/> are not used.</summary>
    public IReadOnlyList<string>? Names { get; set; }

    /// <summary>How many clones are made at once (<see cref="CloneBatch"/>): 0, the default, one per core; 1, one after
    /// another in order.</summary>
    public int Parallelism { get; set; }

    /// <summary>Restore the clones from a CRIU checkpoint of the source's memory (refused where <c>criu check</c>
    /// fails: <see cref="LiveState"/>).</summary>
    public bool Live { get; set; }

    /// <summary>Clones opt into same-page merging (<see cref="MemoryMerge"/>) when the kernel has it.</summary>
    public bool MemoryMerge { get; set; } = true;

    /// <summary>Make each clone's own network namespace ahead, on another thread, while the clones' files and cgroups
    /// are made (when the source has one of its own and there is no <see cref="Adjust"/>): off the critical path of
    /// the clone. False: each clone makes it in its clone(2), as a fresh start does (the benchmark's "before").</summary>
    public bool PrepareNetworks { get; set; } = true;

    /// <summary>Changes a clone's spec before it starts (an orchestrator's labels, its secrets directory, a network
    /// namespace of its own); called once per clone with its name, index (from 0) and id — from several threads at
    /// once when clones are made in parallel (<see cref="Parallelism"/>).</summary>
    public Action<DuplicateClone, Spec>? Adjust { get; set; }

    /// <summary>Name servers for the clones' <c>/etc/resolv.conf</c> (a cluster's DNS responder); empty: the host's,
    /// as for the source. An orchestrator sets it with <see cref="HostAddress"/> when each clone gets a network
    /// namespace of its own through <see cref="Adjust"/>.</summary>
    public IReadOnlyList<string> Dns { get; set; } = [];

    /// <summary>The address a clone's own name maps to in its <c>/etc/hosts</c> (its cluster address); null: loopback.
    /// Meant for one-clone requests (the node asks for one replica at a time).</summary>
    public string? HostAddress { get; set; }
}

/// <summary>A clone about to be made.</summary>
/// <param name="Index">Its position in the request, from 0.</param>
/// <param name="Id">Its container id.</param>
/// <param name="Name">Its name (also its hostname).</param>
/// <param name="Directory">Its state directory.</param>
public sealed record DuplicateClone(int Index, string Id, string Name, string Directory);

/// <summary>A clone that runs.</summary>
/// <param name="Id">Container id.</param>
/// <param name="Name">Container name (its hostname too, up to 63 characters).</param>
/// <param name="Pid">Host pid of its process.</param>
/// <param name="Snapshot">How its writable layer was made.</param>
/// <param name="Elapsed">From the start of this clone to its process running.</param>
public sealed record ClonedContainer(string Id, string Name, int Pid, SnapshotStats Snapshot, TimeSpan Elapsed)
{
    /// <summary>Where its time went, when <see cref="StartTrace.Enabled"/> (a benchmark's breakdown); else null.</summary>
    public StartTrace? Trace { get; init; }
}

/// <summary>What a duplication did.</summary>
/// <param name="SourceId">The source's id.</param>
/// <param name="SourceName">The source's name.</param>
/// <param name="Clones">The clones, running.</param>
/// <param name="MemoryMerge">Whether the clones opted into same-page merging.</param>
/// <param name="MemoryMergeNote">Why not, or whether ksmd runs.</param>
/// <param name="Elapsed">The whole request, from the call to the last clone running.</param>
public sealed record DuplicateResult(string SourceId, string SourceName, IReadOnlyList<ClonedContainer> Clones,
    bool MemoryMerge, string MemoryMergeNote, TimeSpan Elapsed);
