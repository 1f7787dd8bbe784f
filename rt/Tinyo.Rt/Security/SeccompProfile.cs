using System.Text.Json;

namespace Tinyo.Rt.Security;

/// <summary>
/// An OCI <c>linux.seccomp</c> section: a default action and rules that give system calls (by name, optionally only
/// for given argument values) another action. <see cref="SeccompCompiler"/> turns it into the BPF program the kernel
/// runs; <see cref="SeccompProfiles"/> holds the built-in ones.
/// </summary>
public sealed class SeccompProfile
{
    /// <summary>Action for calls no rule matches (<c>SCMP_ACT_*</c>).</summary>
    public string DefaultAction { get; set; } = "SCMP_ACT_ALLOW";
    /// <summary>errno for a default action of <c>SCMP_ACT_ERRNO</c>/<c>SCMP_ACT_TRACE</c> (EPERM when absent).</summary>
    public uint? DefaultErrnoRet { get; set; }
    /// <summary>Architectures (<c>SCMP_ARCH_*</c>) the filter lets through; empty means the native one only.</summary>
    public List<string> Architectures { get; set; } = [];
    /// <summary>seccomp(2) flags (<c>SECCOMP_FILTER_FLAG_*</c>).</summary>
    public List<string> Flags { get; set; } = [];
    /// <summary>The rules, in order.</summary>
    public List<SeccompRule> Syscalls { get; set; } = [];

    /// <summary>
    /// Reads an OCI seccomp object. Errors name the field (<paramref name="where"/> prefixes them); fields tinyort
    /// cannot honour (a notification listener) are errors rather than silently weaker filters.
    /// </summary>
    public static SeccompProfile FromJson(JsonElement e, string where = "linux.seccomp")
    {
        if (e.ValueKind != JsonValueKind.Object) throw new RtException($"{where}: must be an object");
        var p = new SeccompProfile { DefaultAction = "" };
        foreach (var f in e.EnumerateObject())
        {
            switch (f.Name)
            {
                case "defaultAction": p.DefaultAction = Str(f.Value, $"{where}.defaultAction"); break;
                case "defaultErrnoRet": p.DefaultErrnoRet = U32(f.Value, $"{where}.defaultErrnoRet"); break;
                case "architectures": p.Architectures = Strs(f.Value, $"{where}.architectures"); break;
                case "flags": p.Flags = Strs(f.Value, $"{where}.flags"); break;
                case "listenerPath" or "listenerMetadata":
                    if (f.Value.ValueKind is not (JsonValueKind.Null or JsonValueKind.String) || f.Value.ValueKind == JsonValueKind.String && f.Value.GetString()!.Length > 0)
                        throw new RtException($"{where}.{f.Name}: seccomp notification listeners are not supported");
                    break;
                case "syscalls":
                    if (f.Value.ValueKind == JsonValueKind.Null) break;
                    if (f.Value.ValueKind != JsonValueKind.Array) throw new RtException($"{where}.syscalls: must be an array");
                    int i = 0;
                    foreach (var r in f.Value.EnumerateArray()) p.Syscalls.Add(SeccompRule.FromJson(r, $"{where}.syscalls[{i++}]"));
                    break;
                default: break; // archMap, comments and other extensions: not part of the runtime spec
            }
        }
        if (p.DefaultAction.Length == 0) throw new RtException($"{where}.defaultAction is missing");
        SeccompCompiler.ActionCode(p.DefaultAction, p.DefaultErrnoRet, $"{where}.defaultAction");
        return p;
    }

    /// <summary>Writes the OCI JSON form.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("defaultAction", DefaultAction);
        if (DefaultErrnoRet is { } d) w.WriteNumber("defaultErrnoRet", d);
        if (Architectures.Count > 0) { w.WriteStartArray("architectures"); foreach (var a in Architectures) w.WriteStringValue(a); w.WriteEndArray(); }
        if (Flags.Count > 0) { w.WriteStartArray("flags"); foreach (var a in Flags) w.WriteStringValue(a); w.WriteEndArray(); }
        w.WriteStartArray("syscalls");
        foreach (var r in Syscalls)
        {
            w.WriteStartObject();
            w.WriteStartArray("names"); foreach (var n in r.Names) w.WriteStringValue(n); w.WriteEndArray();
            w.WriteString("action", r.Action);
            if (r.ErrnoRet is { } er) w.WriteNumber("errnoRet", er);
            if (r.Args.Count > 0)
            {
                w.WriteStartArray("args");
                foreach (var a in r.Args)
                {
                    w.WriteStartObject();
                    w.WriteNumber("index", a.Index); w.WriteNumber("value", a.Value);
                    if (a.ValueTwo != 0) w.WriteNumber("valueTwo", a.ValueTwo);
                    w.WriteString("op", a.Op);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The OCI JSON form as an element, for <see cref="Oci.SpecLinux.Seccomp"/>.</summary>
    public JsonElement ToJsonElement()
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>(16384);
        using (var w = new Utf8JsonWriter(buf)) WriteJson(w);
        using var doc = JsonDocument.Parse(buf.WrittenMemory);
        return doc.RootElement.Clone();
    }

    internal static string Str(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new RtException($"{where}: must be a string");

    internal static uint U32(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetUInt32(out var v) ? v : throw new RtException($"{where}: must be a non-negative integer");

    internal static ulong U64(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out var v) ? v : throw new RtException($"{where}: must be an unsigned 64-bit integer");

    internal static List<string> Strs(JsonElement e, string where)
    {
        if (e.ValueKind == JsonValueKind.Null) return [];
        if (e.ValueKind != JsonValueKind.Array) throw new RtException($"{where}: must be an array of strings");
        var l = new List<string>();
        int i = 0;
        foreach (var x in e.EnumerateArray()) l.Add(Str(x, $"{where}[{i++}]"));
        return l;
    }
}

/// <summary>One rule of a <see cref="SeccompProfile"/>: <see cref="Action"/> for the named calls when every argument
/// condition holds.</summary>
public sealed class SeccompRule
{
    /// <summary>System call names; names unknown on this architecture are skipped (as runc and libseccomp do).</summary>
    public List<string> Names { get; set; } = [];
    /// <summary>The action (<c>SCMP_ACT_*</c>).</summary>
    public string Action { get; set; } = "";
    /// <summary>errno for <c>SCMP_ACT_ERRNO</c>/<c>SCMP_ACT_TRACE</c> (EPERM when absent).</summary>
    public uint? ErrnoRet { get; set; }
    /// <summary>Argument conditions, all of which must hold (conditions on the same argument are alternatives, as in runc).</summary>
    public List<SeccompArg> Args { get; set; } = [];

    internal static SeccompRule FromJson(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new RtException($"{where}: must be an object");
        var r = new SeccompRule();
        foreach (var f in e.EnumerateObject())
        {
            switch (f.Name)
            {
                case "names": r.Names = SeccompProfile.Strs(f.Value, $"{where}.names"); break;
                case "name": r.Names.Add(SeccompProfile.Str(f.Value, $"{where}.name")); break; // pre-1.0 specs
                case "action": r.Action = SeccompProfile.Str(f.Value, $"{where}.action"); break;
                case "errnoRet": r.ErrnoRet = SeccompProfile.U32(f.Value, $"{where}.errnoRet"); break;
                case "args":
                    if (f.Value.ValueKind == JsonValueKind.Null) break;
                    if (f.Value.ValueKind != JsonValueKind.Array) throw new RtException($"{where}.args: must be an array");
                    int i = 0;
                    foreach (var a in f.Value.EnumerateArray()) r.Args.Add(SeccompArg.FromJson(a, $"{where}.args[{i++}]"));
                    break;
                default: break;
            }
        }
        if (r.Names.Count == 0) throw new RtException($"{where}.names is empty");
        if (r.Action.Length == 0) throw new RtException($"{where}.action is missing");
        SeccompCompiler.ActionCode(r.Action, r.ErrnoRet, $"{where}.action");
        return r;
    }
}

/// <summary>A condition on one system call argument: <c>arg[Index] OP Value</c> (<c>(arg &amp; Value) == ValueTwo</c>
/// for <c>SCMP_CMP_MASKED_EQ</c>), compared as unsigned 64-bit numbers.</summary>
public sealed class SeccompArg
{
    /// <summary>Argument index, 0–5.</summary>
    public uint Index { get; set; }
    /// <summary>The value (the mask for <c>SCMP_CMP_MASKED_EQ</c>).</summary>
    public ulong Value { get; set; }
    /// <summary>The value the masked argument must equal, for <c>SCMP_CMP_MASKED_EQ</c>.</summary>
    public ulong ValueTwo { get; set; }
    /// <summary><c>SCMP_CMP_NE/LT/LE/EQ/GE/GT/MASKED_EQ</c>.</summary>
    public string Op { get; set; } = "";

    internal static SeccompArg FromJson(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new RtException($"{where}: must be an object");
        var a = new SeccompArg();
        bool hasIndex = false;
        foreach (var f in e.EnumerateObject())
        {
            switch (f.Name)
            {
                case "index": a.Index = SeccompProfile.U32(f.Value, $"{where}.index"); hasIndex = true; break;
                case "value": a.Value = SeccompProfile.U64(f.Value, $"{where}.value"); break;
                case "valueTwo": a.ValueTwo = SeccompProfile.U64(f.Value, $"{where}.valueTwo"); break;
                case "op": a.Op = SeccompProfile.Str(f.Value, $"{where}.op"); break;
                default: break;
            }
        }
        if (!hasIndex) throw new RtException($"{where}.index is missing");
        if (a.Index > 5) throw new RtException($"{where}.index {a.Index} is out of range (0-5)");
        if (a.Op is not ("SCMP_CMP_NE" or "SCMP_CMP_LT" or "SCMP_CMP_LE" or "SCMP_CMP_EQ" or "SCMP_CMP_GE" or "SCMP_CMP_GT" or "SCMP_CMP_MASKED_EQ"))
            throw new RtException($"{where}.op: unknown operator \"{a.Op}\"");
        return a;
    }
}
