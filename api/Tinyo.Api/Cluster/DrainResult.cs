namespace Tinyo.Api.Cluster;

/// <summary>What <c>tio node - NAME</c> (or the drain before <c>tio down</c>) did.</summary>
/// <param name="Node">The drained node.</param>
/// <param name="Moved">Replicas that now run on other nodes.</param>
/// <param name="Pending">Replicas no other node could take, each with the reason.</param>
/// <param name="Milliseconds">From the drain mark until every moved replica ran elsewhere.</param>
/// <param name="Removed">Whether the node was then removed from the registry and the KV group.</param>
public sealed record DrainResult(string Node, int Moved, IReadOnlyList<string> Pending, long Milliseconds, bool Removed);
