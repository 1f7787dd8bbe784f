using System.Text.Json;
using System.Text.Json.Serialization;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Oci;

/// <summary>Source-generated JSON for the OCI documents and tinyort's own state files (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true,
    ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(OciState))]
[JsonSerializable(typeof(List<OciState>))]
[JsonSerializable(typeof(ContainerRecord))]
[JsonSerializable(typeof(SpecResources))]
internal sealed partial class OciJson : JsonSerializerContext;
