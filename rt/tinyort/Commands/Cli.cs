using System.CommandLine;
using System.Text.Json.Serialization;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>Options shared by every verb and the one-line error reporting of the CLI.</summary>
internal static class Cli
{
    /// <summary><c>--root DIR</c>: the runtime's state directory (else TINYO_ROOT, else /var/lib/tinyo).</summary>
    public static readonly Option<string?> Root = new("--root")
    {
        Description = "State directory (default: $TINYO_ROOT or " + RuntimeRoot.DefaultPath + ")",
        Recursive = true,
    };

    /// <summary><c>-o table|json</c> for listing verbs.</summary>
    public static Option<string> Output() => new("--output", "-o")
    {
        Description = "Output format: table or json",
        DefaultValueFactory = _ => "table",
        CustomParser = r =>
        {
            var v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "table";
            if (v is not ("table" or "json")) r.AddError($"--output must be 'table' or 'json', not '{v}'");
            return v;
        },
    };

    /// <summary>The runtime root chosen by <c>--root</c>/TINYO_ROOT.</summary>
    public static RuntimeRoot ResolveRoot(ParseResult pr) => RuntimeRoot.Resolve(pr.GetValue(Root));

    /// <summary>Runs a verb's body, turning every expected failure into one line on stderr and exit code 1.</summary>
    public static async Task<int> Run(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RtException e)
        {
            return Fail(e.Message);
        }
        catch (OperationCanceledException)
        {
            return Fail("interrupted", 130);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(e.Message + Debug(e));
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line, with what is needed to report it.
            return Fail($"internal error: {e.GetType().FullName}: {e.Message}" + Debug(e), 70);
        }
    }

    // TINYO_DEBUG=1 adds the stack trace, for bug reports.
    private static string Debug(Exception e) => Environment.GetEnvironmentVariable("TINYO_DEBUG") == "1" ? "\n" + e : "";

    /// <summary>Prints <c>tinyort: MESSAGE</c> to stderr and returns <paramref name="code"/>.</summary>
    public static int Fail(string message, int code = 1)
    {
        Console.Error.WriteLine("tinyort: " + message);
        return code;
    }

    /// <summary>Human-readable byte count (1000-based, as docker prints).</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1000 => $"{bytes} B",
        < 1000 * 1000 => $"{bytes / 1000.0:0.#} kB",
        < 1000L * 1000 * 1000 => $"{bytes / 1e6:0.#} MB",
        _ => $"{bytes / 1e9:0.##} GB",
    };
}

/// <summary>What <c>images -o json</c> prints per image.</summary>
internal sealed class ImageListEntry
{
    public string Name { get; set; } = "";
    public string Repository { get; set; } = "";
    public string? Tag { get; set; }
    public string Digest { get; set; } = "";
    public string Id { get; set; } = "";
    public string? Created { get; set; }
    public long Size { get; set; }
}

/// <summary>What <c>inspect</c> prints.</summary>
internal sealed class InspectOutput
{
    public string Name { get; set; } = "";
    public string Id { get; set; } = "";
    public string Digest { get; set; } = "";
    public string Manifest { get; set; } = "";
    public string? Created { get; set; }
    public string? Os { get; set; }
    public string? Architecture { get; set; }
    public string? Variant { get; set; }
    public long Size { get; set; }
    public InspectConfig Config { get; set; } = new();
    public List<string> Layers { get; set; } = [];
}

/// <summary>The run-time defaults of an image.</summary>
internal sealed class InspectConfig
{
    public List<string>? Entrypoint { get; set; }
    public List<string>? Cmd { get; set; }
    public List<string>? Env { get; set; }
    public string? WorkingDir { get; set; }
    public string? User { get; set; }
    public List<string>? ExposedPorts { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string? StopSignal { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<ImageListEntry>))]
[JsonSerializable(typeof(List<InspectOutput>))]
internal sealed partial class ImageJson : JsonSerializerContext;
