using System.Globalization;
using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Containers;

/// <summary>
/// What tinyort remembers of a container in <c>ROOT/containers/ID/state.json</c>. The live status is not stored:
/// it is derived from the process (pid plus its start time, so a recycled pid is not mistaken for the container) and
/// from the exec FIFO, which exists exactly while the container is created but not started.
/// </summary>
public sealed class ContainerRecord
{
    /// <summary>Container id.</summary>
    public string Id { get; set; } = "";
    /// <summary>Absolute bundle directory.</summary>
    public string Bundle { get; set; } = "";
    /// <summary>Absolute root filesystem.</summary>
    public string Rootfs { get; set; } = "";
    /// <summary>Host pid of init / the container process.</summary>
    public int Pid { get; set; }
    /// <summary>Start time of <see cref="Pid"/> in clock ticks since boot (/proc/PID/stat field 22).</summary>
    public ulong PidStartTime { get; set; }
    /// <summary>Creation time, RFC 3339 UTC with nanoseconds, as runc prints it.</summary>
    public string Created { get; set; } = "";
    /// <summary>Annotations of the spec.</summary>
    public Dictionary<string, string>? Annotations { get; set; }
    /// <summary>The container's cgroup directories.</summary>
    public List<string> CgroupDirs { get; set; } = [];
    /// <summary>Whether <see cref="CgroupDirs"/> is a unified-hierarchy cgroup.</summary>
    public bool CgroupV2 { get; set; }

    /// <summary>Exit code (or 128 + signal) once a reaper recorded it; null while unknown.</summary>
    public int? ExitCode { get; set; }
    /// <summary>The signal that ended the process, when <see cref="ExitCode"/> is known (0 for a normal exit).</summary>
    public int? ExitSignal { get; set; }
    /// <summary>Whether the cgroup saw an OOM kill, when <see cref="ExitCode"/> is known.</summary>
    public bool? OomKilled { get; set; }

    internal const string FileName = "state.json", FifoName = "exec.fifo";

    internal static ContainerRecord Load(string dir, string id)
    {
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, FileName));
            return JsonSerializer.Deserialize(bytes, OciJson.Default.ContainerRecord) ?? throw new RtException($"container {id}: empty state");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        { throw new RtException($"container {id} does not exist"); }
        catch (JsonException e) { throw new RtException($"container {id}: corrupt state: {e.Message}"); }
    }

    /// <summary>
    /// Takes an exclusive flock on the container's state directory, serialising read-modify-write of the record
    /// between processes (the exit monitor recording an exit, a restart saving a new record, a delete); dispose to
    /// release. Null when the directory is gone.
    /// </summary>
    internal static DirLock? Lock(string dir)
    {
        int fd = Linux.Libc.Open(dir, Linux.Libc.O_RDONLY | Linux.Libc.O_DIRECTORY | Linux.Libc.O_CLOEXEC, 0);
        if (fd < 0) return null;
        while (Linux.Libc.Flock(fd, Linux.Libc.LOCK_EX) != 0)
            if (Linux.Libc.Errno != Linux.Libc.EINTR) { Linux.Libc.Close(fd); return null; }
        return new DirLock(fd);
    }

    /// <summary>A held <see cref="Lock"/>.</summary>
    internal sealed class DirLock(int fd) : IDisposable
    {
        private int _fd = fd;
        public void Dispose()
        {
            var f = Interlocked.Exchange(ref _fd, -1);
            if (f >= 0) Linux.Libc.Close(f);
        }
    }

    internal void Save(string dir)
    {
        var tmp = Path.Combine(dir, FileName + ".tmp");
        File.WriteAllBytes(tmp, ToJson());
        File.Move(tmp, Path.Combine(dir, FileName), overwrite: true);
    }

    /// <summary>The live status: <c>created</c>, <c>running</c> or <c>stopped</c>.</summary>
    /// <summary>
    /// The record as OciJson's serializer writes it (camelCase, nulls left out), by hand: the source-generated
    /// metadata is built on first use (≈ 0.5 ms of reflection over attributes), and every container start saves a
    /// record. <see cref="Load"/> still reads it with the serializer.
    /// </summary>
    internal byte[] ToJson()
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buf, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("id", Id);
            w.WriteString("bundle", Bundle);
            w.WriteString("rootfs", Rootfs);
            w.WriteNumber("pid", Pid);
            w.WriteNumber("pidStartTime", PidStartTime);
            w.WriteString("created", Created);
            if (Annotations is not null)
            {
                w.WriteStartObject("annotations");
                foreach (var (k, v) in Annotations) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteStartArray("cgroupDirs");
            foreach (var d in CgroupDirs) w.WriteStringValue(d);
            w.WriteEndArray();
            w.WriteBoolean("cgroupV2", CgroupV2);
            if (ExitCode is { } c) w.WriteNumber("exitCode", c);
            if (ExitSignal is { } sig) w.WriteNumber("exitSignal", sig);
            if (OomKilled is { } oom) w.WriteBoolean("oomKilled", oom);
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    internal string Status(string dir)
    {
        if (!IsAlive(Pid, PidStartTime)) return "stopped";
        return File.Exists(Path.Combine(dir, FifoName)) ? "created" : "running";
    }

    /// <summary>The OCI state document.</summary>
    internal OciState ToState(string dir)
    {
        var status = Status(dir);
        return new OciState
        {
            Id = Id, Pid = status == "stopped" ? 0 : Pid, Status = status, Bundle = Bundle, Rootfs = Rootfs,
            Created = Created, Annotations = Annotations is { Count: > 0 } ? Annotations : null,
        };
    }

    /// <summary>Whether <paramref name="pid"/> is alive (not a zombie) and is the process started at <paramref name="startTime"/>.</summary>
    internal static bool IsAlive(int pid, ulong startTime)
    {
        if (pid <= 0) return false;
        var st = ReadStat(pid);
        return st is { } s && s.State is not ('Z' or 'X') && s.StartTime == startTime;
    }

    /// <summary>State letter and start time of a process from <c>/proc/PID/stat</c>, or null if it is gone.</summary>
    /// <remarks>Read with raw syscalls into a stack buffer: every start records its process's start time and every
    /// status check reads it, and File.ReadAllText's stream, buffers and strings cost ≈ 2 % of a CLI start's CPU
    /// (perf record, docs/benchmarks.md § Issue 16, runtime side).</remarks>
    internal static (char State, ulong StartTime)? ReadStat(int pid)
    {
        Span<byte> buf = stackalloc byte[2048]; // the line is < 1 KiB: comm ≤ 64 bytes, 50 numbers
        int fd = Tinyo.Linux.Libc.SysOpen("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat",
            Tinyo.Linux.Libc.OFlag.RdOnly | Tinyo.Linux.Libc.OFlag.Cloexec, 0);
        if (fd < 0) return null;
        int n;
        try { n = Tinyo.Linux.Libc.SysReadRetry(fd, buf); }
        finally { Tinyo.Linux.Libc.SysClose(fd); }
        if (n <= 0) return null;
        var text = buf[..n];
        // comm may contain spaces and parentheses: fields resume after the last ')'.
        int close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= n) return null;
        var rest = text[(close + 2)..];
        char state = (char)rest[0];
        // rest starts at field 3 (state); field 22 (starttime) follows 19 spaces.
        for (int field = 0; field < 19; field++)
        {
            int sp = rest.IndexOf((byte)' ');
            if (sp < 0) return null;
            rest = rest[(sp + 1)..];
        }
        int end = rest.IndexOfAny((byte)' ', (byte)'\n');
        var num = end < 0 ? rest : rest[..end];
        if (num.IsEmpty || !System.Buffers.Text.Utf8Parser.TryParse(num, out ulong start, out int used) || used != num.Length) return null;
        return (state, start);
    }
}
