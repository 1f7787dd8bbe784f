using Tinyo.Api.Statefile;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Node.Direct;

/// <summary>
/// The node's pipes (issue 15): for <c>stdin: {from: producer}</c> one <see cref="ContainerPipe"/> per producer,
/// made before the first of the two containers and owned by the node — its write end is the producer's stdout, its
/// read end the consumer's stdin, on every start and restart of either (<see cref="StdioOf"/>).
/// </summary>
/// <remarks>
/// <para>What survives: because the node holds both ends, a restarting consumer does not give the producer SIGPIPE
/// (the producer blocks once the 1 MiB buffer is full) and reads, once restarted, what was buffered; a restarting
/// producer does not give the consumer end-of-file, and writes into the same pipe when it is back.</para>
/// <para>What cannot survive (a pipe has no acknowledgements): a line half-written when the producer died stays half
/// in the pipe; bytes the consumer had read but not handled when it died are gone; the node's own stop (<c>tio
/// down</c>) or kill -9 loses the pipe and what it buffered — after a kill -9 the running containers keep their ends
/// of the old pipe (the flow goes on) until one of them ends: a consumer then reads end-of-file, a producer gets
/// SIGPIPE, and both restart on a new pipe. The producer's stdout is the pipe, so its log holds only its stderr.</para>
/// </remarks>
public sealed class ContainerPipes
{
    private readonly Dictionary<string, (string Consumer, ContainerPipe Pipe)> byProducer = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>
    /// The descriptors a replica of <paramref name="spec"/> gets as stdin (it reads a producer) and stdout (an app of
    /// <paramref name="apps"/> reads it); null for either means the usual (/dev/null, its log). The pipe is made on
    /// first use. The node keeps the descriptors (close-on-exec): the runtime duplicates them into the container.
    /// <paramref name="made"/>: the consumer's pipe was made by this call — a producer already running writes
    /// elsewhere (it started before the consumer was known) and must restart to take the pipe.
    /// </summary>
    public (int? Stdin, int? Stdout) StdioOf(AppSpec spec, IEnumerable<AppSpec> apps, out bool made)
    {
        lock (gate)
        {
            int? stdin = null, stdout = null;
            made = false;
            if (spec.StdinFrom is { } producer)
            {
                made = !byProducer.TryGetValue(producer, out var e) || e.Consumer != spec.Name;
                stdin = Get(producer, spec.Name).ReadFd;
            }
            foreach (var a in apps)
                if (a.StdinFrom == spec.Name && a.Name != spec.Name)
                {
                    stdout = Get(spec.Name, a.Name).WriteFd;
                    break;
                }
            return (stdin, stdout);
        }
    }

    /// <summary>The producers with a pipe (tests).</summary>
    public IReadOnlyList<string> Producers()
    {
        lock (gate) return [.. byProducer.Keys];
    }

    /// <summary>Closes the pipes whose producer or consumer is not in <paramref name="apps"/> any more, or whose
    /// consumer reads another app now.</summary>
    public void Prune(IEnumerable<AppSpec> apps)
    {
        var specs = apps.ToDictionary(a => a.Name, StringComparer.Ordinal);
        lock (gate)
            foreach (var (producer, (consumer, pipe)) in byProducer.ToList())
                if (!specs.ContainsKey(producer) || !specs.TryGetValue(consumer, out var c) || c.StdinFrom != producer)
                {
                    pipe.Dispose();
                    byProducer.Remove(producer);
                }
    }

    /// <summary>The node stops (its containers stopped): every pipe closed.</summary>
    public void Stop()
    {
        lock (gate)
        {
            foreach (var (_, pipe) in byProducer.Values) pipe.Dispose();
            byProducer.Clear();
        }
    }

    private ContainerPipe Get(string producer, string consumer)
    {
        if (byProducer.TryGetValue(producer, out var e))
        {
            if (e.Consumer == consumer) return e.Pipe;
            e.Pipe.Dispose(); // the producer feeds another app now: a new pipe, nothing of the old reader's
        }
        var p = ContainerPipe.Create();
        byProducer[producer] = (consumer, p);
        return p;
    }
}
