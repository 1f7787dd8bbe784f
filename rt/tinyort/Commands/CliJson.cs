using System.Text.Json.Serialization;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>JSON output of the CLI (source-generated; camelCase and two-space indentation like runc).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true, IndentSize = 2)]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(OciState))]
[JsonSerializable(typeof(List<OciState>))]
internal sealed partial class CliJson : JsonSerializerContext;
