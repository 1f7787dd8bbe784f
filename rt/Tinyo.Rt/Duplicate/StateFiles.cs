using System.Text.Json;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Duplicate;

/// <summary>
/// A clone's <c>config.json</c> and <c>image.json</c>, serialized and written on a thread-pool thread while the
/// clone's own thread snapshots the writable layer and launches the process: neither file is read on the start path
/// (the launch takes the spec in memory), so they need not be on it. Serializing the spec is the dearest part in a
/// fresh process (the serializer's metadata is built on first use: ≈ 1.7 ms and more, the breakdown in
/// docs/benchmarks.md, against ≈ 0.3 ms once warm), and it overlaps the snapshot instead of preceding it.
/// </summary>
/// <remarks>
/// <para>The caller waits for the serialization (<see cref="AwaitSerialized"/>) before it changes the spec again
/// (the network namespace's path, which config.json must not record), and for the writes
/// (<see cref="AwaitWritten"/>) before it reports the clone made: a write that fails (a full disk) fails the clone,
/// which is then removed like any half-made one, after <see cref="AwaitQuietly"/> (nothing is written into a
/// directory being removed).</para>
/// <para>One write each and no fsync, as every state file of the runtime: they describe processes that do not survive
/// a host crash, so after one there is nothing for them to be durable about; a runtime killed half way leaves what
/// the kernel already has (written files stay whole in the page cache), and a clone without its image.json is
/// removed by <c>rm</c> as an interrupted create.</para>
/// </remarks>
internal sealed class StateFiles
{
    private readonly TaskCompletionSource _serialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _written = Task.CompletedTask;

    private StateFiles() { }

    /// <summary>Starts serializing <paramref name="spec"/> and <paramref name="info"/> into
    /// <paramref name="dir"/>'s config.json (0600: the environment may carry secrets an orchestrator injected, as a
    /// container made by run) and image.json.</summary>
    public static StateFiles Start(string dir, Spec spec, ImageContainerInfo info)
    {
        var s = new StateFiles();
        s._written = Task.Run(() =>
        {
            byte[] config, image;
            try
            {
                config = JsonSerializer.SerializeToUtf8Bytes(spec, OciJson.Default.Spec);
                image = JsonSerializer.SerializeToUtf8Bytes(info, ContainerJson.Default.ImageContainerInfo);
            }
            finally { s._serialized.TrySetResult(); }
            Write(Path.Combine(dir, "config.json"), config, 0x180 /* 0600 */);
            Write(Path.Combine(dir, ImageContainers.InfoName), image, 0x1A4 /* 0644 */);
        });
        return s;
    }

    /// <summary>Waits until the spec has been serialized (it may change from then on).</summary>
    public void AwaitSerialized() => _serialized.Task.GetAwaiter().GetResult();

    /// <summary>Waits until both files are written; throws what failed.</summary>
    public void AwaitWritten()
    {
        try { _written.GetAwaiter().GetResult(); }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        { throw new RtException($"writing the state files: {e.Message}"); }
    }

    /// <summary>Waits until the writer is done, whatever it did (the clone is being undone).</summary>
    public void AwaitQuietly()
    {
        try { _written.Wait(); }
        catch (AggregateException) { }
    }

    private static void Write(string path, byte[] data, uint mode)
    {
        int fd = SysOpen(path, OFlag.WrOnly | OFlag.Creat | OFlag.Excl | OFlag.Cloexec, mode);
        if (fd < 0) throw Error("creating", path);
        try
        {
            if (!SysWriteAll(fd, data)) throw Error("writing", path);
        }
        finally { SysClose(fd); }
    }
}
