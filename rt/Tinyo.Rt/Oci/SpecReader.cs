using System.Text.Json;

namespace Tinyo.Rt.Oci;

/// <summary>
/// Reads a config.json into a <see cref="Spec"/> with <see cref="Utf8JsonReader"/> directly. Why not the
/// source-generated serializer: its metadata is built on first use, which costs over a millisecond in every
/// short-lived <c>tinyort run</c>/<c>create</c>, about a tenth of a container start; this reader costs tens of
/// microseconds. Unknown members are skipped, as the runtime spec asks; a member of the wrong JSON type is an error
/// naming it.
/// </summary>
internal ref struct SpecReader
{
    private Utf8JsonReader _r;

    private SpecReader(ReadOnlySpan<byte> json) =>
        _r = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });

    /// <summary>Parses <paramref name="json"/>; throws <see cref="JsonException"/> on malformed or mistyped input.</summary>
    public static Spec Read(ReadOnlySpan<byte> json)
    {
        var r = new SpecReader(json);
        r.Next();
        var spec = r.ReadSpec();
        if (r._r.Read()) throw new JsonException("trailing data after the document");
        return spec;
    }

    private void Next()
    {
        if (!_r.Read()) throw new JsonException("unexpected end of document");
    }

    private void Expect(JsonTokenType t, string what)
    {
        if (_r.TokenType != t) throw new JsonException($"{what}: expected {Describe(t)}, found {Describe(_r.TokenType)} (byte {_r.TokenStartIndex})");
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object", JsonTokenType.StartArray => "an array", JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number", JsonTokenType.True or JsonTokenType.False => "a boolean", JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    /// <summary>Iterates the members of the object the reader is on; returns false at its end.</summary>
    private bool Member(string what, out string name)
    {
        Next();
        if (_r.TokenType == JsonTokenType.EndObject) { name = ""; return false; }
        name = _r.GetString()!;
        Next();
        return true;
    }

    private void Object(string what) => Expect(JsonTokenType.StartObject, what);

    private void Skip() => _r.Skip();

    private string? Str(string what)
    {
        if (_r.TokenType == JsonTokenType.Null) return null;
        Expect(JsonTokenType.String, what);
        return _r.GetString();
    }

    private bool Bool(string what)
    {
        if (_r.TokenType is JsonTokenType.True) return true;
        if (_r.TokenType is JsonTokenType.False or JsonTokenType.Null) return false;
        throw new JsonException($"{what}: expected a boolean, found {Describe(_r.TokenType)} (byte {_r.TokenStartIndex})");
    }

    private long Long(string what)
    {
        Expect(JsonTokenType.Number, what);
        return _r.TryGetInt64(out var v) ? v : throw new JsonException($"{what}: not a 64-bit integer");
    }

    private ulong ULong(string what)
    {
        Expect(JsonTokenType.Number, what);
        if (_r.TryGetUInt64(out var v)) return v;
        // runc-generated specs may carry -1 for "unlimited" where the type is unsigned.
        if (_r.TryGetInt64(out var s) && s == -1) return ulong.MaxValue;
        throw new JsonException($"{what}: not an unsigned 64-bit integer");
    }

    private uint UInt(string what)
    {
        Expect(JsonTokenType.Number, what);
        return _r.TryGetUInt32(out var v) ? v : throw new JsonException($"{what}: not an unsigned 32-bit integer");
    }

    private int Int(string what)
    {
        Expect(JsonTokenType.Number, what);
        return _r.TryGetInt32(out var v) ? v : throw new JsonException($"{what}: not a 32-bit integer");
    }

    private List<string>? Strings(string what)
    {
        if (_r.TokenType == JsonTokenType.Null) return null;
        Expect(JsonTokenType.StartArray, what);
        var l = new List<string>();
        while (true)
        {
            Next();
            if (_r.TokenType == JsonTokenType.EndArray) return l;
            l.Add(Str(what) ?? "");
        }
    }

    /// <summary>Starts reading an array (false for null); then <see cref="Item"/> moves to each element.</summary>
    private bool BeginArray(string what)
    {
        if (_r.TokenType == JsonTokenType.Null) return false;
        Expect(JsonTokenType.StartArray, what);
        return true;
    }

    private bool Item()
    {
        Next();
        return _r.TokenType != JsonTokenType.EndArray;
    }

    private Dictionary<string, string>? StringMap(string what)
    {
        if (_r.TokenType == JsonTokenType.Null) return null;
        Object(what);
        var d = new Dictionary<string, string>();
        while (Member(what, out var k)) d[k] = Str(what + "." + k) ?? "";
        return d;
    }

    private Spec ReadSpec()
    {
        Object("config");
        var s = new Spec();
        while (Member("config", out var n))
            switch (n)
            {
                case "ociVersion": s.OciVersion = Str(n); break;
                case "process": s.Process = _r.TokenType == JsonTokenType.Null ? null : ReadProcess(); break;
                case "root":
                    if (_r.TokenType == JsonTokenType.Null) break;
                    Object(n);
                    s.Root = new SpecRoot();
                    while (Member(n, out var m))
                        if (m == "path") s.Root.Path = Str("root.path") ?? "";
                        else if (m == "readonly") s.Root.Readonly = Bool("root.readonly");
                        else Skip();
                    break;
                case "hostname": s.Hostname = Str(n); break;
                case "domainname": s.Domainname = Str(n); break;
                case "mounts":
                    if (!BeginArray(n)) break;
                    s.Mounts = [];
                    while (Item()) s.Mounts.Add(ReadMount());
                    break;
                case "annotations": s.Annotations = StringMap(n); break;
                case "hooks": s.Hooks = _r.TokenType == JsonTokenType.Null ? null : ReadHooks(); break;
                case "linux": s.Linux = _r.TokenType == JsonTokenType.Null ? null : ReadLinux(); break;
                default: Skip(); break;
            }
        return s;
    }

    private SpecProcess ReadProcess()
    {
        Object("process");
        var p = new SpecProcess();
        while (Member("process", out var n))
            switch (n)
            {
                case "terminal": p.Terminal = Bool("process.terminal"); break;
                case "user":
                    if (_r.TokenType == JsonTokenType.Null) break;
                    Object("process.user");
                    p.User = new SpecUser();
                    while (Member("process.user", out var m))
                        switch (m)
                        {
                            case "uid": p.User.Uid = UInt("process.user.uid"); break;
                            case "gid": p.User.Gid = UInt("process.user.gid"); break;
                            case "umask": p.User.Umask = _r.TokenType == JsonTokenType.Null ? null : UInt("process.user.umask"); break;
                            case "additionalGids":
                                if (!BeginArray(m)) break;
                                p.User.AdditionalGids = [];
                                while (Item()) p.User.AdditionalGids.Add(UInt("process.user.additionalGids"));
                                break;
                            default: Skip(); break;
                        }
                    break;
                case "args": p.Args = Strings("process.args"); break;
                case "env": p.Env = Strings("process.env"); break;
                case "cwd": p.Cwd = Str("process.cwd"); break;
                case "capabilities":
                    if (_r.TokenType == JsonTokenType.Null) break;
                    Object("process.capabilities");
                    p.Capabilities = new SpecCapabilities();
                    while (Member("process.capabilities", out var m))
                        switch (m)
                        {
                            case "bounding": p.Capabilities.Bounding = Strings("process.capabilities.bounding"); break;
                            case "effective": p.Capabilities.Effective = Strings("process.capabilities.effective"); break;
                            case "inheritable": p.Capabilities.Inheritable = Strings("process.capabilities.inheritable"); break;
                            case "permitted": p.Capabilities.Permitted = Strings("process.capabilities.permitted"); break;
                            case "ambient": p.Capabilities.Ambient = Strings("process.capabilities.ambient"); break;
                            default: Skip(); break;
                        }
                    break;
                case "rlimits":
                    if (!BeginArray("process.rlimits")) break;
                    p.Rlimits = [];
                    while (Item()) p.Rlimits.Add(ReadRlimit());
                    break;
                case "noNewPrivileges": p.NoNewPrivileges = Bool("process.noNewPrivileges"); break;
                case "oomScoreAdj": p.OomScoreAdj = _r.TokenType == JsonTokenType.Null ? null : Int("process.oomScoreAdj"); break;
                case "apparmorProfile": p.ApparmorProfile = Str(n); break;
                case "selinuxLabel": p.SelinuxLabel = Str(n); break;
                case "consoleSize":
                    if (_r.TokenType == JsonTokenType.Null) break;
                    Object("process.consoleSize");
                    p.ConsoleSize = new SpecConsoleSize();
                    while (Member("process.consoleSize", out var m))
                        switch (m)
                        {
                            case "height": p.ConsoleSize.Height = UInt("process.consoleSize.height"); break;
                            case "width": p.ConsoleSize.Width = UInt("process.consoleSize.width"); break;
                            default: Skip(); break;
                        }
                    break;
                default: Skip(); break;
            }
        return p;
    }

    private SpecRlimit ReadRlimit()
    {
        Object("process.rlimits[]");
        var l = new SpecRlimit();
        while (Member("process.rlimits[]", out var m))
            switch (m)
            {
                case "type": l.Type = Str("process.rlimits[].type") ?? ""; break;
                case "hard": l.Hard = ULong("process.rlimits[].hard"); break;
                case "soft": l.Soft = ULong("process.rlimits[].soft"); break;
                default: Skip(); break;
            }
        return l;
    }

    private SpecMount ReadMount()
    {
        Object("mounts[]");
        var m = new SpecMount();
        while (Member("mounts[]", out var n))
            switch (n)
            {
                case "destination": m.Destination = Str("mounts[].destination") ?? ""; break;
                case "type": m.Type = Str("mounts[].type"); break;
                case "source": m.Source = Str("mounts[].source"); break;
                case "options": m.Options = Strings("mounts[].options"); break;
                default: Skip(); break;
            }
        return m;
    }

    private SpecHooks ReadHooks()
    {
        Object("hooks");
        var h = new SpecHooks();
        while (Member("hooks", out var n))
        {
            List<SpecHook>? list = null;
            if (BeginArray("hooks." + n))
            {
                list = [];
                while (Item()) list.Add(ReadHook());
            }
            switch (n)
            {
                case "prestart": h.Prestart = list; break;
                case "createRuntime": h.CreateRuntime = list; break;
                case "createContainer": h.CreateContainer = list; break;
                case "startContainer": h.StartContainer = list; break;
                case "poststart": h.Poststart = list; break;
                case "poststop": h.Poststop = list; break;
            }
        }
        return h;
    }

    private SpecHook ReadHook()
    {
        Object("hook");
        var h = new SpecHook();
        while (Member("hook", out var n))
            switch (n)
            {
                case "path": h.Path = Str("hook.path") ?? ""; break;
                case "args": h.Args = Strings("hook.args"); break;
                case "env": h.Env = Strings("hook.env"); break;
                case "timeout": h.Timeout = _r.TokenType == JsonTokenType.Null ? null : Int("hook.timeout"); break;
                default: Skip(); break;
            }
        return h;
    }

    private SpecLinux ReadLinux()
    {
        Object("linux");
        var l = new SpecLinux();
        while (Member("linux", out var n))
            switch (n)
            {
                case "namespaces":
                    if (!BeginArray("linux.namespaces")) break;
                    l.Namespaces = [];
                    while (Item())
                    {
                        Object("linux.namespaces[]");
                        var ns = new SpecNamespace();
                        while (Member("linux.namespaces[]", out var m))
                            if (m == "type") ns.Type = Str("linux.namespaces[].type") ?? "";
                            else if (m == "path") ns.Path = Str("linux.namespaces[].path");
                            else Skip();
                        l.Namespaces.Add(ns);
                    }
                    break;
                case "uidMappings":
                    if (!BeginArray(n)) break;
                    l.UidMappings = [];
                    while (Item()) l.UidMappings.Add(ReadIdMapping());
                    break;
                case "gidMappings":
                    if (!BeginArray(n)) break;
                    l.GidMappings = [];
                    while (Item()) l.GidMappings.Add(ReadIdMapping());
                    break;
                case "devices":
                    if (!BeginArray(n)) break;
                    l.Devices = [];
                    while (Item()) l.Devices.Add(ReadDevice());
                    break;
                case "cgroupsPath": l.CgroupsPath = Str(n); break;
                case "resources": l.Resources = _r.TokenType == JsonTokenType.Null ? null : ReadResources(); break;
                case "rootfsPropagation": l.RootfsPropagation = Str(n); break;
                case "maskedPaths": l.MaskedPaths = Strings("linux.maskedPaths"); break;
                case "readonlyPaths": l.ReadonlyPaths = Strings("linux.readonlyPaths"); break;
                case "sysctl": l.Sysctl = StringMap("linux.sysctl"); break;
                case "seccomp": l.Seccomp = JsonElement.ParseValue(ref _r); break;
                case "mountLabel": l.MountLabel = Str(n); break;
                default: Skip(); break;
            }
        return l;
    }

    private SpecIdMapping ReadIdMapping()
    {
        Object("idMapping");
        var m = new SpecIdMapping();
        while (Member("idMapping", out var n))
            switch (n)
            {
                case "containerID": m.ContainerID = UInt("containerID"); break;
                case "hostID": m.HostID = UInt("hostID"); break;
                case "size": m.Size = UInt("size"); break;
                default: Skip(); break;
            }
        return m;
    }

    private SpecDevice ReadDevice()
    {
        Object("linux.devices[]");
        var d = new SpecDevice();
        while (Member("linux.devices[]", out var n))
            switch (n)
            {
                case "type": d.Type = Str("linux.devices[].type") ?? ""; break;
                case "path": d.Path = Str("linux.devices[].path") ?? ""; break;
                case "major": d.Major = Long("linux.devices[].major"); break;
                case "minor": d.Minor = Long("linux.devices[].minor"); break;
                case "fileMode": d.FileMode = _r.TokenType == JsonTokenType.Null ? null : UInt("linux.devices[].fileMode"); break;
                case "uid": d.Uid = _r.TokenType == JsonTokenType.Null ? null : UInt("linux.devices[].uid"); break;
                case "gid": d.Gid = _r.TokenType == JsonTokenType.Null ? null : UInt("linux.devices[].gid"); break;
                default: Skip(); break;
            }
        return d;
    }

    private SpecResources ReadResources()
    {
        Object("linux.resources");
        var r = new SpecResources();
        while (Member("linux.resources", out var n))
        {
            if (_r.TokenType == JsonTokenType.Null) continue;
            switch (n)
            {
                case "devices":
                    if (!BeginArray("linux.resources.devices")) break;
                    r.Devices = [];
                    while (Item())
                    {
                        Object("linux.resources.devices[]");
                        var d = new SpecDeviceRule();
                        while (Member("linux.resources.devices[]", out var m))
                            switch (m)
                            {
                                case "allow": d.Allow = Bool("linux.resources.devices[].allow"); break;
                                case "type": d.Type = Str("linux.resources.devices[].type"); break;
                                case "major": d.Major = _r.TokenType == JsonTokenType.Null ? null : Long("linux.resources.devices[].major"); break;
                                case "minor": d.Minor = _r.TokenType == JsonTokenType.Null ? null : Long("linux.resources.devices[].minor"); break;
                                case "access": d.Access = Str("linux.resources.devices[].access"); break;
                                default: Skip(); break;
                            }
                        r.Devices.Add(d);
                    }
                    break;
                case "memory":
                    Object("linux.resources.memory");
                    r.Memory = new SpecMemory();
                    while (Member("linux.resources.memory", out var m))
                    {
                        if (_r.TokenType == JsonTokenType.Null) continue;
                        switch (m)
                        {
                            case "limit": r.Memory.Limit = Long("linux.resources.memory.limit"); break;
                            case "reservation": r.Memory.Reservation = Long("linux.resources.memory.reservation"); break;
                            case "swap": r.Memory.Swap = Long("linux.resources.memory.swap"); break;
                            case "swappiness": r.Memory.Swappiness = ULong("linux.resources.memory.swappiness"); break;
                            case "disableOOMKiller": r.Memory.DisableOOMKiller = Bool("linux.resources.memory.disableOOMKiller"); break;
                            case "kernel": r.Memory.Kernel = Long("linux.resources.memory.kernel"); break;
                            case "kernelTCP": r.Memory.KernelTcp = Long("linux.resources.memory.kernelTCP"); break;
                            default: Skip(); break;
                        }
                    }
                    break;
                case "cpu":
                    Object("linux.resources.cpu");
                    r.Cpu = new SpecCpu();
                    while (Member("linux.resources.cpu", out var m))
                    {
                        if (_r.TokenType == JsonTokenType.Null) continue;
                        switch (m)
                        {
                            case "shares": r.Cpu.Shares = ULong("linux.resources.cpu.shares"); break;
                            case "quota": r.Cpu.Quota = Long("linux.resources.cpu.quota"); break;
                            case "period": r.Cpu.Period = ULong("linux.resources.cpu.period"); break;
                            case "cpus": r.Cpu.Cpus = Str("linux.resources.cpu.cpus"); break;
                            case "mems": r.Cpu.Mems = Str("linux.resources.cpu.mems"); break;
                            case "realtimeRuntime": r.Cpu.RealtimeRuntime = Long("linux.resources.cpu.realtimeRuntime"); break;
                            case "realtimePeriod": r.Cpu.RealtimePeriod = ULong("linux.resources.cpu.realtimePeriod"); break;
                            case "idle": r.Cpu.Idle = Long("linux.resources.cpu.idle"); break;
                            case "burst": r.Cpu.Burst = ULong("linux.resources.cpu.burst"); break;
                            default: Skip(); break;
                        }
                    }
                    break;
                case "pids":
                    Object("linux.resources.pids");
                    r.Pids = new SpecPids();
                    while (Member("linux.resources.pids", out var m))
                        if (m == "limit" && _r.TokenType != JsonTokenType.Null) r.Pids.Limit = Long("linux.resources.pids.limit");
                        else Skip();
                    break;
                case "blockIO": r.BlockIO = ReadBlockIO(); break;
                case "hugepageLimits":
                    if (!BeginArray("linux.resources.hugepageLimits")) break;
                    r.HugepageLimits = [];
                    while (Item())
                    {
                        Object("linux.resources.hugepageLimits[]");
                        var h = new SpecHugepageLimit();
                        while (Member("linux.resources.hugepageLimits[]", out var m))
                            switch (m)
                            {
                                case "pageSize": h.PageSize = Str("linux.resources.hugepageLimits[].pageSize") ?? ""; break;
                                case "limit": h.Limit = ULong("linux.resources.hugepageLimits[].limit"); break;
                                default: Skip(); break;
                            }
                        r.HugepageLimits.Add(h);
                    }
                    break;
                case "network":
                    Object("linux.resources.network");
                    r.Network = new SpecNetwork();
                    while (Member("linux.resources.network", out var m))
                    {
                        if (_r.TokenType == JsonTokenType.Null) continue;
                        switch (m)
                        {
                            case "classID": r.Network.ClassID = UInt("linux.resources.network.classID"); break;
                            case "priorities":
                                if (!BeginArray("linux.resources.network.priorities")) break;
                                r.Network.Priorities = [];
                                while (Item())
                                {
                                    Object("linux.resources.network.priorities[]");
                                    var p = new SpecInterfacePriority();
                                    while (Member("linux.resources.network.priorities[]", out var f))
                                        switch (f)
                                        {
                                            case "name": p.Name = Str("linux.resources.network.priorities[].name") ?? ""; break;
                                            case "priority": p.Priority = UInt("linux.resources.network.priorities[].priority"); break;
                                            default: Skip(); break;
                                        }
                                    r.Network.Priorities.Add(p);
                                }
                                break;
                            default: Skip(); break;
                        }
                    }
                    break;
                case "rdma":
                    Object("linux.resources.rdma");
                    r.Rdma = [];
                    while (Member("linux.resources.rdma", out var dev))
                    {
                        var what = "linux.resources.rdma." + dev;
                        Object(what);
                        var d = new SpecRdma();
                        while (Member(what, out var f))
                        {
                            if (_r.TokenType == JsonTokenType.Null) continue;
                            switch (f)
                            {
                                case "hcaHandles": d.HcaHandles = UInt(what + ".hcaHandles"); break;
                                case "hcaObjects": d.HcaObjects = UInt(what + ".hcaObjects"); break;
                                default: Skip(); break;
                            }
                        }
                        r.Rdma[dev] = d;
                    }
                    break;
                case "unified": r.Unified = StringMap("linux.resources.unified"); break;
                default: Skip(); break;
            }
        }
        return r;
    }

    private SpecBlockIO ReadBlockIO()
    {
        const string W = "linux.resources.blockIO";
        Object(W);
        var b = new SpecBlockIO();
        while (Member(W, out var n))
        {
            if (_r.TokenType == JsonTokenType.Null) continue;
            switch (n)
            {
                case "weight": b.Weight = UInt(W + ".weight"); break;
                case "leafWeight": b.LeafWeight = UInt(W + ".leafWeight"); break;
                case "weightDevice":
                    if (!BeginArray(W + ".weightDevice")) break;
                    b.WeightDevice = [];
                    while (Item())
                    {
                        Object(W + ".weightDevice[]");
                        var d = new SpecWeightDevice();
                        while (Member(W + ".weightDevice[]", out var m))
                        {
                            if (_r.TokenType == JsonTokenType.Null) continue;
                            switch (m)
                            {
                                case "major": d.Major = Long(W + ".weightDevice[].major"); break;
                                case "minor": d.Minor = Long(W + ".weightDevice[].minor"); break;
                                case "weight": d.Weight = UInt(W + ".weightDevice[].weight"); break;
                                case "leafWeight": d.LeafWeight = UInt(W + ".weightDevice[].leafWeight"); break;
                                default: Skip(); break;
                            }
                        }
                        b.WeightDevice.Add(d);
                    }
                    break;
                case "throttleReadBpsDevice": b.ThrottleReadBpsDevice = Throttles(W + "." + n); break;
                case "throttleWriteBpsDevice": b.ThrottleWriteBpsDevice = Throttles(W + "." + n); break;
                case "throttleReadIOPSDevice": b.ThrottleReadIOPSDevice = Throttles(W + "." + n); break;
                case "throttleWriteIOPSDevice": b.ThrottleWriteIOPSDevice = Throttles(W + "." + n); break;
                default: Skip(); break;
            }
        }
        return b;
    }

    private List<SpecThrottleDevice>? Throttles(string what)
    {
        if (!BeginArray(what)) return null;
        var l = new List<SpecThrottleDevice>();
        while (Item())
        {
            Object(what + "[]");
            var d = new SpecThrottleDevice();
            while (Member(what + "[]", out var m))
                switch (m)
                {
                    case "major": d.Major = Long(what + "[].major"); break;
                    case "minor": d.Minor = Long(what + "[].minor"); break;
                    case "rate": d.Rate = ULong(what + "[].rate"); break;
                    default: Skip(); break;
                }
            l.Add(d);
        }
        return l;
    }
}
