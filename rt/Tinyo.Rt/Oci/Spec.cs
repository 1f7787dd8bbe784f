using System.Text.Json.Serialization;

namespace Tinyo.Rt.Oci;

// The OCI runtime spec's config.json (runtime-spec 1.x, Linux part), restricted to what tinyort honours or must
// at least recognise. Unknown members are ignored on read, as the spec asks of runtimes.

/// <summary>The root of an OCI bundle's <c>config.json</c>.</summary>
public sealed class Spec
{
    /// <summary>Spec version the bundle was written for (for example <c>1.0.2</c>).</summary>
    public string? OciVersion { get; set; }
    /// <summary>The container's process.</summary>
    public SpecProcess? Process { get; set; }
    /// <summary>The root filesystem.</summary>
    public SpecRoot? Root { get; set; }
    /// <summary>Hostname set in the container's UTS namespace.</summary>
    public string? Hostname { get; set; }
    /// <summary>NIS domain name set in the container's UTS namespace.</summary>
    public string? Domainname { get; set; }
    /// <summary>Mounts, in order, on top of the root filesystem.</summary>
    public List<SpecMount>? Mounts { get; set; }
    /// <summary>Free-form annotations, copied to the state.</summary>
    public Dictionary<string, string>? Annotations { get; set; }
    /// <summary>Lifecycle hooks (<see cref="Oci.Hooks"/>).</summary>
    public SpecHooks? Hooks { get; set; }
    /// <summary>Linux-specific configuration.</summary>
    public SpecLinux? Linux { get; set; }
}

/// <summary><c>process</c>: what runs in the container and with which credentials.</summary>
public sealed class SpecProcess
{
    /// <summary>Whether a pseudo-terminal is allocated for the process (its master goes to the console socket).</summary>
    public bool Terminal { get; set; }
    /// <summary>Initial size of the terminal.</summary>
    public SpecConsoleSize? ConsoleSize { get; set; }
    /// <summary>User and groups the process runs as.</summary>
    public SpecUser? User { get; set; }
    /// <summary>argv; <c>args[0]</c> is looked up in the container's PATH when it has no slash.</summary>
    public List<string>? Args { get; set; }
    /// <summary>Environment, <c>KEY=value</c>.</summary>
    public List<string>? Env { get; set; }
    /// <summary>Absolute working directory inside the container.</summary>
    public string? Cwd { get; set; }
    /// <summary>Capability sets.</summary>
    public SpecCapabilities? Capabilities { get; set; }
    /// <summary>Resource limits (setrlimit).</summary>
    public List<SpecRlimit>? Rlimits { get; set; }
    /// <summary>Sets PR_SET_NO_NEW_PRIVS.</summary>
    public bool NoNewPrivileges { get; set; }
    /// <summary>Written to <c>/proc/self/oom_score_adj</c>.</summary>
    public int? OomScoreAdj { get; set; }
    /// <summary>AppArmor profile (recognised, not applied).</summary>
    public string? ApparmorProfile { get; set; }
    /// <summary>SELinux label (recognised, not applied).</summary>
    public string? SelinuxLabel { get; set; }
}

/// <summary><c>process.consoleSize</c>.</summary>
public sealed class SpecConsoleSize
{
    /// <summary>Rows.</summary>
    public uint Height { get; set; }
    /// <summary>Columns.</summary>
    public uint Width { get; set; }
}

/// <summary><c>process.user</c>.</summary>
public sealed class SpecUser
{
    /// <summary>User id.</summary>
    public uint Uid { get; set; }
    /// <summary>Group id.</summary>
    public uint Gid { get; set; }
    /// <summary>File mode creation mask.</summary>
    public uint? Umask { get; set; }
    /// <summary>Supplementary groups.</summary>
    public List<uint>? AdditionalGids { get; set; }
}

/// <summary><c>process.capabilities</c>: capability names such as <c>CAP_CHOWN</c> per set.</summary>
public sealed class SpecCapabilities
{
    /// <summary>Bounding set.</summary>
    public List<string>? Bounding { get; set; }
    /// <summary>Effective set.</summary>
    public List<string>? Effective { get; set; }
    /// <summary>Inheritable set.</summary>
    public List<string>? Inheritable { get; set; }
    /// <summary>Permitted set.</summary>
    public List<string>? Permitted { get; set; }
    /// <summary>Ambient set.</summary>
    public List<string>? Ambient { get; set; }
}

/// <summary>One <c>process.rlimits</c> entry.</summary>
public sealed class SpecRlimit
{
    /// <summary>Limit name, for example <c>RLIMIT_NOFILE</c>.</summary>
    public string Type { get; set; } = "";
    /// <summary>Hard limit.</summary>
    public ulong Hard { get; set; }
    /// <summary>Soft limit.</summary>
    public ulong Soft { get; set; }
}

/// <summary><c>root</c>.</summary>
public sealed class SpecRoot
{
    /// <summary>Root filesystem directory, relative to the bundle or absolute.</summary>
    public string Path { get; set; } = "";
    /// <summary>Whether the root filesystem is mounted read-only.</summary>
    public bool Readonly { get; set; }
}

/// <summary>One entry of <c>mounts</c>.</summary>
public sealed class SpecMount
{
    /// <summary>Absolute path inside the container.</summary>
    public string Destination { get; set; } = "";
    /// <summary>Filesystem type (<c>proc</c>, <c>tmpfs</c>, <c>bind</c>, …); empty for a bind mount.</summary>
    public string? Type { get; set; }
    /// <summary>Device, host path (bind) or filesystem name.</summary>
    public string? Source { get; set; }
    /// <summary>mount(8)-style options.</summary>
    public List<string>? Options { get; set; }
}

/// <summary><c>hooks</c>: see <see cref="Hooks"/> for where each kind runs.</summary>
public sealed class SpecHooks
{
    /// <summary>Prestart hooks.</summary>
    public List<SpecHook>? Prestart { get; set; }
    /// <summary>CreateRuntime hooks.</summary>
    public List<SpecHook>? CreateRuntime { get; set; }
    /// <summary>CreateContainer hooks.</summary>
    public List<SpecHook>? CreateContainer { get; set; }
    /// <summary>StartContainer hooks.</summary>
    public List<SpecHook>? StartContainer { get; set; }
    /// <summary>Poststart hooks.</summary>
    public List<SpecHook>? Poststart { get; set; }
    /// <summary>Poststop hooks.</summary>
    public List<SpecHook>? Poststop { get; set; }
}

/// <summary>One hook.</summary>
public sealed class SpecHook
{
    /// <summary>Absolute path of the hook.</summary>
    public string Path { get; set; } = "";
    /// <summary>argv.</summary>
    public List<string>? Args { get; set; }
    /// <summary>Environment.</summary>
    public List<string>? Env { get; set; }
    /// <summary>Timeout in seconds.</summary>
    public int? Timeout { get; set; }
}

/// <summary><c>linux</c>.</summary>
public sealed class SpecLinux
{
    /// <summary>Namespaces to create (no path) or join (path).</summary>
    public List<SpecNamespace>? Namespaces { get; set; }
    /// <summary>User namespace uid mappings (not supported yet).</summary>
    public List<SpecIdMapping>? UidMappings { get; set; }
    /// <summary>User namespace gid mappings (not supported yet).</summary>
    public List<SpecIdMapping>? GidMappings { get; set; }
    /// <summary>Device nodes to create in the container.</summary>
    public List<SpecDevice>? Devices { get; set; }
    /// <summary>Cgroup path, absolute (relative to each hierarchy's root) or relative to tinyo's parent cgroup.</summary>
    public string? CgroupsPath { get; set; }
    /// <summary>Resource limits applied through cgroups.</summary>
    public SpecResources? Resources { get; set; }
    /// <summary>Propagation of the root mount: <c>private</c>, <c>rprivate</c>, <c>slave</c>, <c>rslave</c>, <c>shared</c>, <c>rshared</c>, <c>unbindable</c>, <c>runbindable</c>.</summary>
    public string? RootfsPropagation { get; set; }
    /// <summary>Paths made unreadable (a tmpfs over directories, /dev/null over files).</summary>
    public List<string>? MaskedPaths { get; set; }
    /// <summary>Paths remounted read-only.</summary>
    public List<string>? ReadonlyPaths { get; set; }
    /// <summary>Kernel parameters written under /proc/sys.</summary>
    public Dictionary<string, string>? Sysctl { get; set; }
    /// <summary>Seccomp filter (an OCI seccomp object, read by <see cref="Security.SeccompProfile.FromJson"/>).</summary>
    public System.Text.Json.JsonElement? Seccomp { get; set; }
    /// <summary>Mount label (SELinux; ignored).</summary>
    public string? MountLabel { get; set; }
}

/// <summary>One <c>linux.namespaces</c> entry.</summary>
public sealed class SpecNamespace
{
    /// <summary><c>pid</c>, <c>network</c>, <c>mount</c>, <c>ipc</c>, <c>uts</c>, <c>user</c> or <c>cgroup</c>.</summary>
    public string Type { get; set; } = "";
    /// <summary>A namespace file to join instead of creating a new namespace.</summary>
    public string? Path { get; set; }
}

/// <summary>A user namespace id mapping.</summary>
public sealed class SpecIdMapping
{
    /// <summary>First id inside the container.</summary>
    public uint ContainerID { get; set; }
    /// <summary>First id on the host.</summary>
    public uint HostID { get; set; }
    /// <summary>Number of ids.</summary>
    public uint Size { get; set; }
}

/// <summary>One <c>linux.devices</c> entry.</summary>
public sealed class SpecDevice
{
    /// <summary><c>c</c>, <c>b</c>, <c>u</c> or <c>p</c>.</summary>
    public string Type { get; set; } = "";
    /// <summary>Absolute path inside the container.</summary>
    public string Path { get; set; } = "";
    /// <summary>Major number.</summary>
    public long Major { get; set; }
    /// <summary>Minor number.</summary>
    public long Minor { get; set; }
    /// <summary>Permission bits.</summary>
    public uint? FileMode { get; set; }
    /// <summary>Owner.</summary>
    public uint? Uid { get; set; }
    /// <summary>Group.</summary>
    public uint? Gid { get; set; }
}

/// <summary><c>linux.resources</c>.</summary>
public sealed class SpecResources
{
    /// <summary>Device cgroup rules.</summary>
    public List<SpecDeviceRule>? Devices { get; set; }
    /// <summary>Memory limits.</summary>
    public SpecMemory? Memory { get; set; }
    /// <summary>CPU limits.</summary>
    public SpecCpu? Cpu { get; set; }
    /// <summary>Process-count limit.</summary>
    public SpecPids? Pids { get; set; }
    /// <summary>Block I/O weights and throttles (v1 blkio, v2 io).</summary>
    [JsonPropertyName("blockIO")]
    public SpecBlockIO? BlockIO { get; set; }
    /// <summary>Huge page limits per page size (hugetlb).</summary>
    public List<SpecHugepageLimit>? HugepageLimits { get; set; }
    /// <summary>Network class id and interface priorities (v1 net_cls, net_prio).</summary>
    public SpecNetwork? Network { get; set; }
    /// <summary>RDMA limits per device (rdma).</summary>
    public Dictionary<string, SpecRdma>? Rdma { get; set; }
    /// <summary>cgroup v2 control files and values, written as given.</summary>
    public Dictionary<string, string>? Unified { get; set; }
}

/// <summary><c>linux.resources.blockIO</c>.</summary>
public sealed class SpecBlockIO
{
    /// <summary>Default weight (10..1000); 0 or absent: not set.</summary>
    public uint? Weight { get; set; }
    /// <summary>Weight for the cgroup's own tasks against its children (CFQ only).</summary>
    public uint? LeafWeight { get; set; }
    /// <summary>Weights per device.</summary>
    public List<SpecWeightDevice>? WeightDevice { get; set; }
    /// <summary>Read bytes per second per device.</summary>
    public List<SpecThrottleDevice>? ThrottleReadBpsDevice { get; set; }
    /// <summary>Write bytes per second per device.</summary>
    public List<SpecThrottleDevice>? ThrottleWriteBpsDevice { get; set; }
    /// <summary>Read operations per second per device.</summary>
    [JsonPropertyName("throttleReadIOPSDevice")]
    public List<SpecThrottleDevice>? ThrottleReadIOPSDevice { get; set; }
    /// <summary>Write operations per second per device.</summary>
    [JsonPropertyName("throttleWriteIOPSDevice")]
    public List<SpecThrottleDevice>? ThrottleWriteIOPSDevice { get; set; }
}

/// <summary>A block device's weight (<c>linux.resources.blockIO.weightDevice[]</c>).</summary>
public sealed class SpecWeightDevice
{
    /// <summary>Device major number.</summary>
    public long Major { get; set; }
    /// <summary>Device minor number.</summary>
    public long Minor { get; set; }
    /// <summary>Weight (10..1000).</summary>
    public uint? Weight { get; set; }
    /// <summary>Leaf weight (CFQ only).</summary>
    public uint? LeafWeight { get; set; }
}

/// <summary>A block device's rate limit (<c>linux.resources.blockIO.throttle*Device[]</c>).</summary>
public sealed class SpecThrottleDevice
{
    /// <summary>Device major number.</summary>
    public long Major { get; set; }
    /// <summary>Device minor number.</summary>
    public long Minor { get; set; }
    /// <summary>Bytes or operations per second; 0 removes the limit.</summary>
    public ulong Rate { get; set; }
}

/// <summary>A huge page limit (<c>linux.resources.hugepageLimits[]</c>).</summary>
public sealed class SpecHugepageLimit
{
    /// <summary>Page size as the kernel names it (<c>2MB</c>, <c>1GB</c>).</summary>
    public string PageSize { get; set; } = "";
    /// <summary>Bytes of huge pages of that size the cgroup may use (0: none).</summary>
    public ulong Limit { get; set; }
}

/// <summary><c>linux.resources.network</c>.</summary>
public sealed class SpecNetwork
{
    /// <summary>net_cls class id tagged on the cgroup's packets.</summary>
    [JsonPropertyName("classID")]
    public uint? ClassID { get; set; }
    /// <summary>net_prio priorities per interface.</summary>
    public List<SpecInterfacePriority>? Priorities { get; set; }
}

/// <summary>An interface's priority (<c>linux.resources.network.priorities[]</c>).</summary>
public sealed class SpecInterfacePriority
{
    /// <summary>Interface name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Priority of the cgroup's traffic on it.</summary>
    public uint Priority { get; set; }
}

/// <summary>An RDMA device's limits (<c>linux.resources.rdma.DEVICE</c>).</summary>
public sealed class SpecRdma
{
    /// <summary>Maximum HCA handles.</summary>
    public uint? HcaHandles { get; set; }
    /// <summary>Maximum HCA objects.</summary>
    public uint? HcaObjects { get; set; }
}

/// <summary>A device cgroup rule.</summary>
public sealed class SpecDeviceRule
{
    /// <summary>Allow or deny.</summary>
    public bool Allow { get; set; }
    /// <summary><c>a</c>, <c>c</c> or <c>b</c>; all when absent.</summary>
    public string? Type { get; set; }
    /// <summary>Major, all when absent.</summary>
    public long? Major { get; set; }
    /// <summary>Minor, all when absent.</summary>
    public long? Minor { get; set; }
    /// <summary>Some of <c>rwm</c>.</summary>
    public string? Access { get; set; }
}

/// <summary><c>linux.resources.memory</c>.</summary>
public sealed class SpecMemory
{
    /// <summary>Hard limit in bytes.</summary>
    public long? Limit { get; set; }
    /// <summary>Soft limit in bytes.</summary>
    public long? Reservation { get; set; }
    /// <summary>Memory plus swap limit in bytes.</summary>
    public long? Swap { get; set; }
    /// <summary>Swappiness (v1).</summary>
    public ulong? Swappiness { get; set; }
    /// <summary>Disables the OOM killer (v1).</summary>
    public bool? DisableOOMKiller { get; set; }
    /// <summary>Kernel memory limit (v1; deprecated by the runtime spec, ignored with a warning as runc does).</summary>
    public long? Kernel { get; set; }
    /// <summary>Kernel TCP buffer memory limit (v1 <c>memory.kmem.tcp.limit_in_bytes</c>).</summary>
    [JsonPropertyName("kernelTCP")]
    public long? KernelTcp { get; set; }
}

/// <summary><c>linux.resources.cpu</c>.</summary>
public sealed class SpecCpu
{
    /// <summary>Relative weight (v1 shares, 2..262144).</summary>
    public ulong? Shares { get; set; }
    /// <summary>CFS quota in microseconds per period; -1 or absent for none.</summary>
    public long? Quota { get; set; }
    /// <summary>CFS period in microseconds.</summary>
    public ulong? Period { get; set; }
    /// <summary>CPUs allowed (cpuset).</summary>
    public string? Cpus { get; set; }
    /// <summary>Memory nodes allowed (cpuset).</summary>
    public string? Mems { get; set; }
    /// <summary>Real-time runtime in microseconds per real-time period (v1 <c>cpu.rt_runtime_us</c>).</summary>
    public long? RealtimeRuntime { get; set; }
    /// <summary>Real-time period in microseconds (v1 <c>cpu.rt_period_us</c>).</summary>
    public ulong? RealtimePeriod { get; set; }
    /// <summary>SCHED_IDLE for the cgroup: 1 on, 0 off (<c>cpu.idle</c>).</summary>
    public long? Idle { get; set; }
    /// <summary>CFS burst in microseconds (<c>cpu.cfs_burst_us</c>, v2 <c>cpu.max.burst</c>).</summary>
    public ulong? Burst { get; set; }
}

/// <summary><c>linux.resources.pids</c>.</summary>
public sealed class SpecPids
{
    /// <summary>Maximum number of tasks; 0 or negative for no limit.</summary>
    public long Limit { get; set; }
}
