using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Arch = System.Runtime.InteropServices.Architecture;

namespace Tinyo.Rt.Images;

/// <summary>An OCI platform (<c>linux/amd64</c>, <c>linux/arm/v7</c>), as in image indexes.</summary>
public sealed class Platform
{
    /// <summary>CPU architecture in GOARCH spelling.</summary>
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    /// <summary>Operating system in GOOS spelling.</summary>
    [JsonPropertyName("os")] public string? Os { get; set; }
    /// <summary>CPU variant.</summary>
    [JsonPropertyName("variant")] public string? Variant { get; set; }

    /// <summary>The platform this process runs on.</summary>
    public static Platform Host { get; } = new()
    {
        Os = "linux",
        Architecture = RuntimeInformation.OSArchitecture switch
        {
            Arch.X64 => "amd64",
            Arch.Arm64 => "arm64",
            Arch.Arm => "arm",
            Arch.X86 => "386",
            Arch.S390x => "s390x",
            Arch.Ppc64le => "ppc64le",
            Arch.RiscV64 => "riscv64",
            Arch.LoongArch64 => "loong64",
            var a => a.ToString().ToLowerInvariant(),
        },
        Variant = RuntimeInformation.OSArchitecture switch
        {
            Arch.Arm64 => "v8",
            Arch.Arm => "v7",
            _ => null,
        },
    };

    /// <summary>Parses <c>os/arch[/variant]</c>.</summary>
    public static Platform Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || Array.Exists(parts, p => p.Length == 0 || p.Length > 32))
            throw new RtException($"invalid platform '{Manifest.Trunc(text)}': expected os/arch[/variant], e.g. linux/amd64");
        return new Platform { Os = parts[0], Architecture = parts[1], Variant = parts.Length == 3 ? parts[2] : null };
    }

    /// <summary>
    /// Picks the manifest for <paramref name="want"/> from an index: os and architecture must match; among those, an
    /// exact variant wins, then one without a variant. Entries for other platforms (and attestation manifests, which
    /// carry <c>unknown/unknown</c>) are skipped.
    /// </summary>
    public static Descriptor? Select(IReadOnlyList<Descriptor> manifests, Platform want)
    {
        Descriptor? best = null;
        var bestScore = -1;
        foreach (var d in manifests)
        {
            var p = d.Platform;
            if (p is null || p.Os != want.Os || p.Architecture != want.Architecture) continue;
            if (!MediaTypes.IsManifest(d.MediaType)) continue;
            var score = p.Variant == want.Variant ? 2 : p.Variant is null ? 1 : want.Architecture == "arm64" && p.Variant == "v8" ? 2 : 0;
            if (score == 0 && want.Variant is not null) continue;
            if (score > bestScore)
            {
                best = d;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary><c>os/arch[/variant]</c>.</summary>
    public override string ToString() => Os + "/" + Architecture + (Variant is null ? "" : "/" + Variant);
}
