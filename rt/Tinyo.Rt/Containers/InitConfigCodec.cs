using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Containers;

/// <summary>
/// A compact binary encoding of <see cref="InitConfig"/> for the parent → init message, carrying exactly the spec
/// fields init acts on. Why not JSON: init is a process that lives for a few milliseconds, and deserialising the spec
/// with System.Text.Json there costs more than a millisecond of cold start on every container start; this codec costs
/// microseconds. Both ends are the same binary, so the format needs no versioning.
/// </summary>
internal static class InitConfigCodec
{
    public static byte[] Encode(InitConfig c)
    {
        var w = new Writer();
        var s = c.Spec;
        var p = s.Process!;
        var l = s.Linux!;
        w.Str(c.Id); w.Str(c.Rootfs); w.Str(c.ExecFifo); w.Bool(c.CgroupV2); w.Strs(c.CgroupV1Hierarchies);
        w.Strs(c.OverlayLower); w.Str(c.OverlayUpper); w.Str(c.OverlayWork);
        w.Strs(p.Args); w.Strs(p.Env); w.Str(p.Cwd);
        var u = p.User ?? new SpecUser();
        w.U64(u.Uid); w.U64(u.Gid); w.U64(u.Umask ?? uint.MaxValue);
        w.I32(u.AdditionalGids?.Count ?? 0);
        foreach (var g in u.AdditionalGids ?? []) w.U64(g);
        var caps = p.Capabilities;
        w.Bool(caps is not null);
        if (caps is not null) { w.Strs(caps.Bounding); w.Strs(caps.Effective); w.Strs(caps.Inheritable); w.Strs(caps.Permitted); w.Strs(caps.Ambient); }
        w.I32(p.Rlimits?.Count ?? 0);
        foreach (var r in p.Rlimits ?? []) { w.Str(r.Type); w.U64(r.Soft); w.U64(r.Hard); }
        w.Bool(p.NoNewPrivileges);
        w.Bool(p.OomScoreAdj is not null); w.I32(p.OomScoreAdj ?? 0);
        w.Bool(s.Root!.Readonly); w.Str(s.Hostname); w.Str(s.Domainname);
        w.I32(s.Mounts?.Count ?? 0);
        foreach (var m in s.Mounts ?? []) { w.Str(m.Destination); w.Str(m.Type); w.Str(m.Source); w.Strs(m.Options); }
        w.I32(l.Namespaces?.Count ?? 0);
        foreach (var n in l.Namespaces ?? []) { w.Str(n.Type); w.Str(n.Path); }
        w.I32(l.Devices?.Count ?? 0);
        foreach (var d in l.Devices ?? [])
        {
            w.Str(d.Type); w.Str(d.Path); w.U64((ulong)d.Major); w.U64((ulong)d.Minor);
            w.U64(d.FileMode ?? uint.MaxValue); w.U64(d.Uid ?? uint.MaxValue); w.U64(d.Gid ?? uint.MaxValue);
        }
        w.Str(l.RootfsPropagation); w.Strs(l.MaskedPaths); w.Strs(l.ReadonlyPaths);
        w.I32(l.Sysctl?.Count ?? 0);
        foreach (var (k, v) in l.Sysctl ?? []) { w.Str(k); w.Str(v); }
        w.Bytes(c.SeccompProgram); w.I32((int)c.SeccompFlags);
        // Terminal and hooks (appended: compat features, usually absent).
        w.Bool(c.Terminal); w.I32(c.ConsoleRows); w.I32(c.ConsoleCols); w.Bool(c.PauseBeforePivot);
        Hooks(w, c.CreateContainerHooks); Hooks(w, c.StartContainerHooks); w.Str(c.HookState); w.Bool(c.UserNs);
        w.Strs(c.CgroupSubpaths);
        // Of the annotations, init needs only this one: whether the plan has the same-page-merging step.
        w.Bool(Setup.MemoryMergeStep.Requested(s));
        return w.ToArray();
    }

    public static InitConfig Decode(ReadOnlySpan<byte> data)
    {
        var r = new Reader(data);
        var c = new InitConfig { Id = r.Req(), Rootfs = r.Req(), ExecFifo = r.Str(), CgroupV2 = r.Bool(), CgroupV1Hierarchies = r.Strs() ?? [] };
        c.OverlayLower = r.Strs(); c.OverlayUpper = r.Str(); c.OverlayWork = r.Str();
        var p = new SpecProcess { Args = r.Strs(), Env = r.Strs(), Cwd = r.Str() };
        var u = new SpecUser { Uid = (uint)r.U64(), Gid = (uint)r.U64() };
        var umask = r.U64();
        u.Umask = umask == uint.MaxValue ? null : (uint)umask;
        int ng = r.Count(8);
        if (ng > 0) { u.AdditionalGids = new List<uint>(ng); for (int i = 0; i < ng; i++) u.AdditionalGids.Add((uint)r.U64()); }
        p.User = u;
        if (r.Bool())
            p.Capabilities = new SpecCapabilities { Bounding = r.Strs(), Effective = r.Strs(), Inheritable = r.Strs(), Permitted = r.Strs(), Ambient = r.Strs() };
        int nr = r.Count(20);
        if (nr > 0) { p.Rlimits = []; for (int i = 0; i < nr; i++) p.Rlimits.Add(new SpecRlimit { Type = r.Req(), Soft = r.U64(), Hard = r.U64() }); }
        p.NoNewPrivileges = r.Bool();
        bool hasOom = r.Bool(); int oom = r.I32();
        p.OomScoreAdj = hasOom ? oom : null;
        var s = new Spec { Process = p, Root = new SpecRoot { Path = c.Rootfs, Readonly = r.Bool() }, Hostname = r.Str(), Domainname = r.Str() };
        int nm = r.Count(16);
        s.Mounts = new List<SpecMount>(nm);
        for (int i = 0; i < nm; i++) s.Mounts.Add(new SpecMount { Destination = r.Req(), Type = r.Str(), Source = r.Str(), Options = r.Strs() });
        var l = new SpecLinux();
        int nn = r.Count(8);
        l.Namespaces = new List<SpecNamespace>(nn);
        for (int i = 0; i < nn; i++) l.Namespaces.Add(new SpecNamespace { Type = r.Req(), Path = r.Str() });
        int nd = r.Count(48);
        if (nd > 0)
        {
            l.Devices = [];
            for (int i = 0; i < nd; i++)
            {
                var d = new SpecDevice { Type = r.Req(), Path = r.Req(), Major = (long)r.U64(), Minor = (long)r.U64() };
                ulong fm = r.U64(), uid = r.U64(), gid = r.U64();
                d.FileMode = fm == uint.MaxValue ? null : (uint)fm;
                d.Uid = uid == uint.MaxValue ? null : (uint)uid;
                d.Gid = gid == uint.MaxValue ? null : (uint)gid;
                l.Devices.Add(d);
            }
        }
        l.RootfsPropagation = r.Str(); l.MaskedPaths = r.Strs(); l.ReadonlyPaths = r.Strs();
        int ns = r.Count(8);
        if (ns > 0) { l.Sysctl = []; for (int i = 0; i < ns; i++) l.Sysctl[r.Req()] = r.Req(); }
        c.SeccompProgram = r.Bytes(); c.SeccompFlags = (uint)r.I32();
        c.Terminal = r.Bool(); c.ConsoleRows = (ushort)r.I32(); c.ConsoleCols = (ushort)r.I32(); c.PauseBeforePivot = r.Bool();
        c.CreateContainerHooks = Hooks(ref r); c.StartContainerHooks = Hooks(ref r); c.HookState = r.Str(); c.UserNs = r.Bool();
        c.CgroupSubpaths = r.Strs() ?? [];
        if (r.Bool()) s.Annotations = new() { [Setup.MemoryMergeStep.Annotation] = "1" };
        s.Linux = l;
        c.Spec = s;
        if (!r.AtEnd) throw new RtException("init: malformed configuration message");
        return c;
    }

    private static void Hooks(Writer w, List<SpecHook>? hooks)
    {
        w.I32(hooks?.Count ?? -1);
        foreach (var h in hooks ?? []) { w.Str(h.Path); w.Strs(h.Args); w.Strs(h.Env); w.I32(h.Timeout ?? 0); }
    }

    private static List<SpecHook>? Hooks(ref Reader r)
    {
        int n = r.I32();
        if (n < 0) return null;
        var l = new List<SpecHook>();
        for (int i = 0; i < n; i++)
        {
            var h = new SpecHook { Path = r.Str() ?? "", Args = r.Strs(), Env = r.Strs() };
            int t = r.I32();
            h.Timeout = t > 0 ? t : null;
            l.Add(h);
        }
        return l;
    }

    private sealed class Writer
    {
        private readonly ArrayBufferWriter<byte> _b = new(4096);
        public void I32(int v) { BinaryPrimitives.WriteInt32LittleEndian(_b.GetSpan(4), v); _b.Advance(4); }
        public void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(_b.GetSpan(8), v); _b.Advance(8); }
        public void Bool(bool v) { _b.GetSpan(1)[0] = v ? (byte)1 : (byte)0; _b.Advance(1); }
        public void Str(string? s)
        {
            if (s is null) { I32(-1); return; }
            int n = Encoding.UTF8.GetByteCount(s);
            I32(n);
            Encoding.UTF8.GetBytes(s, _b.GetSpan(n));
            _b.Advance(n);
        }
        public void Strs(List<string>? l)
        {
            if (l is null) { I32(-1); return; }
            I32(l.Count);
            foreach (var s in l) Str(s);
        }
        public void Bytes(byte[]? b)
        {
            if (b is null) { I32(-1); return; }
            I32(b.Length);
            b.CopyTo(_b.GetSpan(b.Length));
            _b.Advance(b.Length);
        }
        public byte[] ToArray() => _b.WrittenSpan.ToArray();
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _d = data;
        public readonly bool AtEnd => _d.IsEmpty;
        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > _d.Length) throw new RtException("init: truncated configuration message");
            var s = _d[..n];
            _d = _d[n..];
            return s;
        }
        public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        public bool Bool() => Take(1)[0] != 0;
        public string? Str() { int n = I32(); return n < 0 ? null : Encoding.UTF8.GetString(Take(n)); }
        /// <summary>A string the encoder never writes as null (ids, paths, types, keys).</summary>
        public string Req() => Str() ?? throw new RtException("init: malformed configuration message");
        /// <summary>An item count, checked against what is left (each item takes at least <paramref name="minItemBytes"/>)
        /// before anything is allocated for it: a hostile count must not become a huge or negative capacity.</summary>
        public int Count(int minItemBytes)
        {
            int n = I32();
            if (n < 0 || n > _d.Length / minItemBytes) throw new RtException("init: truncated configuration message");
            return n;
        }
        public byte[]? Bytes() { int n = I32(); return n < 0 ? null : Take(n).ToArray(); }
        public List<string>? Strs()
        {
            int n = I32();
            if (n < 0) return null;
            if (n > _d.Length / 4) throw new RtException("init: truncated configuration message");
            var l = new List<string>(n);
            for (int i = 0; i < n; i++) l.Add(Str() ?? "");
            return l;
        }
    }
}
