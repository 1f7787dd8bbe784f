using System.CommandLine;
using System.Globalization;
using Tinyo.Rt.Duplicate;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort dup SOURCE NEW [-n N] [--parallel P] [--live] [--no-memory-merge]</c>: N new containers made from a running one
/// (<see cref="ContainerDuplicator"/>): the source's layers, spec, seccomp program and limits reused, its writable
/// layer snapshotted (reflink or copy, reported), each clone with its own namespaces and hostname. Prints one line
/// per clone — id, name, pid — and a summary on stderr.
/// </summary>
internal static class DupCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "The running container to duplicate (name or id)" };
        var name = new Argument<string>("NEW") { Description = "The new container's name; with -n N: NEW-1 … NEW-N" };
        var count = new Option<int>("-n", "--count") { Description = $"How many clones (1 to {ContainerDuplicator.MaxCount})", DefaultValueFactory = _ => 1 };
        var live = new Option<bool>("--live") { Description = "Also copy the running process's memory (CRIU; refused where `criu check` fails)" };
        var noMerge = new Option<bool>("--no-memory-merge") { Description = "Do not opt the clones into kernel same-page merging (KSM)" };
        var parallel = new Option<int>("--parallel") { Description = "How many clones are made at once (default 0: one per core; 1: one after another)" };
        var cmd = new Command("dup", "Duplicate a running container into new ones in milliseconds (same image layers, spec and limits; its files copy-on-write)")
        {
            source, name, count, live, noMerge, parallel,
        };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var ic = ContainerCli.Containers(pr);
            var result = new ContainerDuplicator(ic).Duplicate(new DuplicateRequest
            {
                Source = pr.GetValue(source)!, Name = pr.GetValue(name)!, Count = pr.GetValue(count),
                Live = pr.GetValue(live), MemoryMerge = !pr.GetValue(noMerge), Parallelism = pr.GetValue(parallel),
                // TINYO_DUP_NETNS_AHEAD=0: each clone makes its network namespace itself (bench/dup.sh's "before").
                PrepareNetworks = Environment.GetEnvironmentVariable("TINYO_DUP_NETNS_AHEAD") != "0",
            });
            foreach (var c in result.Clones)
            {
                // The clone is our child until we exit; the root's exit monitor records how it ends (as run -d).
                ic.Runtime.WatchExit(c.Id);
                Console.Out.WriteLine($"{c.Id}\t{c.Name}\t{c.Pid}");
                // TINYO_TRACE_START=1: where the clone's time went (bench/dup.sh's breakdown).
                if (c.Trace is { } t) Console.Error.WriteLine($"tinyort: trace {c.Name}: {t}");
            }
            var first = result.Clones[0].Snapshot;
            long files = 0, bytes = 0, reflinked = 0, copied = 0;
            foreach (var c in result.Clones)
            {
                files += c.Snapshot.Files; bytes += c.Snapshot.Bytes; reflinked += c.Snapshot.Reflinked; copied += c.Snapshot.Copied;
            }
            var method = new SnapshotStats(files, bytes, reflinked, copied, TimeSpan.Zero).Method;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"tinyort: duplicated {result.SourceName} into {result.Clones.Count} in {result.Elapsed.TotalMilliseconds:0.0} ms; writable layer: {method} ({first.Files} files, {Cli.Size(first.Bytes)} each, first in {first.Elapsed.TotalMilliseconds:0.00} ms); first clone running after {result.Clones[0].Elapsed.TotalMilliseconds:0.00} ms; memory merge: {(result.MemoryMerge ? "on" : "off")}, {result.MemoryMergeNote}"));
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
