using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text;

namespace Tinyo.Bench.Env;

/// <summary>
/// What a NativeAOT binary is made of (issue 16, binary sizes): reads the <c>.mstat</c> file ILC writes with
/// <c>-p:IlcGenerateMstatFile=true</c> (a metadata-only assembly whose global type's methods <c>Types</c>,
/// <c>Methods</c> and <c>Blobs</c> list each compiled node as <c>ldtoken</c>/<c>ldstr</c> followed by its sizes) and
/// sums the sizes by assembly, by namespace (cut to <c>depth</c> parts) and by blob. Compiled code and type data only:
/// the native runtime, unwind tables and relocations are not in the file.
/// </summary>
public static class Mstat
{
    public static string Report(string path, int depth)
    {
        using var pe = new PEReader(File.OpenRead(path));
        var md = pe.GetMetadataReader();
        var byNs = new Dictionary<string, long>();
        var byAsm = new Dictionary<string, long>();
        var blobs = new Dictionary<string, long>();
        long types = 0, methods = 0, blobTotal = 0;
        var global = md.GetTypeDefinition(MetadataTokens.TypeDefinitionHandle(1));
        foreach (var mh in global.GetMethods())
        {
            var m = md.GetMethodDefinition(mh);
            string section = md.GetString(m.Name);
            var il = pe.GetMethodBody(m.RelativeVirtualAddress).GetILReader();
            EntityHandle entity = default;
            string? blob = null;
            long? size = null;
            void Flush()
            {
                if (size is not { } s) return;
                if (section == "Blobs" && blob is not null) { Add(blobs, blob, s); blobTotal += s; }
                else if (!entity.IsNil && section is "Types" or "Methods")
                {
                    if (section == "Types") types += s; else methods += s;
                    var ns = Namespace(md, entity, out var asm);
                    Add(byNs, string.Join('.', ns.Split('.').Take(depth)), s);
                    Add(byAsm, asm, s);
                }
                size = null;
            }
            while (il.RemainingBytes > 0)
            {
                byte op = il.ReadByte();
                switch (op)
                {
                    case 0xD0: Flush(); entity = MetadataTokens.EntityHandle(il.ReadInt32()); blob = null; break; // ldtoken
                    case 0x72: Flush(); blob = md.GetUserString(MetadataTokens.UserStringHandle(il.ReadInt32())); entity = default; break; // ldstr
                    // The first number after a node is its size (read the operand always: ??= would skip the read).
                    case 0x20: { long v = il.ReadInt32(); size ??= v; break; } // ldc.i4
                    case 0x1F: { long v = il.ReadSByte(); size ??= v; break; } // ldc.i4.s
                    case >= 0x15 and <= 0x1E: size ??= op - 0x16; break; // ldc.i4.m1 .. ldc.i4.8
                    case 0x26 or 0x2A or 0x00: break; // pop, ret, nop
                    default: il.Offset = il.Length; break; // a format this reader does not know: stop this section
                }
            }
            Flush();
        }
        var sb = new StringBuilder();
        sb.Append($"{Path.GetFileName(path)}: types {types / 1024} KiB, methods {methods / 1024} KiB, blobs {blobTotal / 1024} KiB\n");
        Table(sb, "assembly", byAsm, 25);
        Table(sb, "namespace", byNs, 40);
        Table(sb, "blob", blobs, 12);
        return sb.ToString();
    }

    private static void Table(StringBuilder sb, string what, Dictionary<string, long> d, int top)
    {
        sb.Append($"\n| {what} | KiB |\n|---|---:|\n");
        foreach (var (k, v) in d.OrderByDescending(x => x.Value).Take(top)) sb.Append($"| {(k.Length == 0 ? "(global)" : k)} | {v / 1024} |\n");
    }

    private static void Add(Dictionary<string, long> d, string k, long v) => d[k] = d.GetValueOrDefault(k) + v;

    private static string Namespace(MetadataReader md, EntityHandle h, out string asm)
    {
        asm = "?";
        switch (h.Kind)
        {
            case HandleKind.TypeReference:
                var tr = md.GetTypeReference((TypeReferenceHandle)h);
                if (tr.ResolutionScope.Kind == HandleKind.TypeReference) return Namespace(md, (EntityHandle)tr.ResolutionScope, out asm);
                if (tr.ResolutionScope.Kind == HandleKind.AssemblyReference)
                    asm = md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)tr.ResolutionScope).Name);
                return md.GetString(tr.Namespace);
            case HandleKind.TypeDefinition:
                return md.GetString(md.GetTypeDefinition((TypeDefinitionHandle)h).Namespace);
            case HandleKind.TypeSpecification:
                var br = md.GetBlobReader(md.GetTypeSpecification((TypeSpecificationHandle)h).Signature);
                var code = br.ReadSignatureTypeCode();
                while (code is SignatureTypeCode.SZArray or SignatureTypeCode.Pointer or SignatureTypeCode.ByReference) code = br.ReadSignatureTypeCode();
                if (code == SignatureTypeCode.GenericTypeInstance) { br.ReadSignatureTypeCode(); return Namespace(md, br.ReadTypeHandle(), out asm); }
                if (code == SignatureTypeCode.TypeHandle) return Namespace(md, br.ReadTypeHandle(), out asm);
                asm = "System.Private.CoreLib";
                return "System";
            case HandleKind.MemberReference:
                return Namespace(md, md.GetMemberReference((MemberReferenceHandle)h).Parent, out asm);
            case HandleKind.MethodSpecification:
                return Namespace(md, md.GetMethodSpecification((MethodSpecificationHandle)h).Method, out asm);
            case HandleKind.MethodDefinition:
                return Namespace(md, md.GetMethodDefinition((MethodDefinitionHandle)h).GetDeclaringType(), out asm);
            default:
                return "?";
        }
    }
}
