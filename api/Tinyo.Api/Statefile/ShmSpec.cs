namespace Tinyo.Api.Statefile;

/// <summary>
/// A shared memory region of a cluster (<c>shm: {name: frames, size: 64m}</c>): one size-limited file that every app
/// of the cluster listing the same name maps, at <c>/dev/shm/NAME</c> (so <c>shm_open("NAME")</c> finds it).
/// </summary>
public sealed class ShmSpec
{
    /// <summary>The region's name: 1-63 of [a-z0-9-], the same in every app that shares it.</summary>
    public required string Name { get; init; }

    /// <summary>Its size in bytes (the most it can hold; pages are used as they are touched).</summary>
    public long SizeBytes { get; init; }
}
