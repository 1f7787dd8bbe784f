using Tinyo.Api;
using System.CommandLine;
using Tinyo.Ctl.Client;
using Tinyo.Ctl.Setup;
using Tinyo.Api.Statefile;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>Exit codes of tio (also listed in tio --help's epilogue via the README).</summary>
internal static class Exit
{
    public const int Ok = 0, Error = 1, Usage = 2, Unauthorized = 3, NotFound = 4, Conflict = 5, Unreachable = 6, Throttled = 7;
    public const int InvalidInput = 65; // EX_DATAERR: invalid statefile
    public const int Internal = 70;     // EX_SOFTWARE: a bug
    public const int Interrupted = 130;
}

/// <summary>Options every verb shares, the client factory and the one-line error convention.</summary>
internal static class Common
{
    public static readonly Option<string?> Host = new("--host", "-H")
    {
        Description = "Node API address: unix:/path or tcp://host:port (env TINYO_HOST; default: the --socket)",
        Recursive = true,
    };

    public static readonly Option<string?> Socket = new("--socket")
    {
        Description = $"Node unix socket (env TINYO_SOCKET; default {NodeAddress.DefaultSocket})",
        Recursive = true,
    };

    public static readonly Option<string?> Root = new("--root")
    {
        Description = $"Node state directory (env TINYO_ROOT; default {NodeLayout.DefaultRoot})",
        Recursive = true,
    };

    public static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    public static string SocketPath(ParseResult pr) => pr.GetValue(Socket) ?? Env("TINYO_SOCKET") ?? NodeAddress.DefaultSocket;

    public static NodeAddress Address(ParseResult pr)
    {
        var host = pr.GetValue(Host) ?? Env("TINYO_HOST");
        return host is not null ? NodeAddress.Parse(host) : new NodeAddress(SocketPath(pr), null);
    }

    public static NodeLayout Layout(ParseResult pr) => new(Path.GetFullPath(pr.GetValue(Root) ?? Env("TINYO_ROOT") ?? NodeLayout.DefaultRoot));

    /// <summary>The node's daemons: pid files under the root, units in /etc/systemd/system when systemd is PID 1.</summary>
    public static NodeDaemons Daemons(NodeLayout layout)
        => new(layout, new SystemdUnits(layout), Directory.Exists(ServiceModes.SystemdRunDir));

    /// <summary>A client with the saved token for the address (TINYO_TOKEN overrides).</summary>
    public static NodeClient Client(ParseResult pr) => Client(pr, TimeSpan.FromSeconds(30));

    /// <summary>A client whose calls may take up to <paramref name="timeout"/> (a drain waits for replicas to move).</summary>
    public static NodeClient Client(ParseResult pr, TimeSpan timeout)
    {
        var addr = Address(pr);
        var token = Env("TINYO_TOKEN") ?? Credentials.Get(addr)?.Token;
        return new NodeClient(addr, token) { Pin = Pin(addr), Timeout = timeout };
    }

    /// <summary>The TLS pin for an address: TINYO_TLS_FINGERPRINT, else the one tio ++ or tio login --fingerprint saved.</summary>
    public static string? Pin(NodeAddress addr)
    {
        if (addr.Tcp is null || addr.Plain) return null;
        if (Env("TINYO_TLS_FINGERPRINT") is { } f)
            return CertificatePin.Normalize(f) ?? throw new UsageException($"TINYO_TLS_FINGERPRINT: '{f}' is not sha256: and 64 hex digits");
        return Credentials.GetPin(addr);
    }

    /// <summary>
    /// Runs a verb: errors become one line on stderr and a meaningful exit code. Messages quote user input and the
    /// node's answers: control characters are escaped so they reach the terminal as text.
    /// </summary>
    public static void Run(Command command, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (pr, ct) =>
        {
            try
            {
                return await action(pr, ct);
            }
            catch (ApiException e)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return e.Status switch
                {
                    401 => Exit.Unauthorized,
                    403 => Exit.Unauthorized,
                    404 => Exit.NotFound,
                    409 => Exit.Conflict,
                    422 => Exit.InvalidInput,
                    429 => Exit.Throttled,
                    _ => Exit.Error,
                };
            }
            catch (StatefileException e)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return Exit.InvalidInput;
            }
            catch (NodeUnreachableException e)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return Exit.Unreachable;
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return Exit.Usage;
            }
            catch (CtlException e)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return Exit.Error;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"tio: {Printable.Escape(e.Message)}");
                return Exit.Error;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("tio: interrupted");
                return Exit.Interrupted;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"tio: internal error: {e.GetType().Name}: {Printable.Escape(e.Message)}");
                if (Env("TINYO_DEBUG") is not null) Console.Error.WriteLine(e.StackTrace);
                return Exit.Internal;
            }
        });
    }

    /// <summary>Colour only on a terminal and never with NO_COLOR.</summary>
    public static bool Color => !Console.IsOutputRedirected && Env("NO_COLOR") is null && Env("TERM") != "dumb";

    public static string Green(string s) => Color ? $"\e[32m{s}\e[0m" : s;

    public static string Yellow(string s) => Color ? $"\e[33m{s}\e[0m" : s;

    public static string Bold(string s) => Color ? $"\e[1m{s}\e[0m" : s;

    /// <summary>A human age: 5s, 3m, 2h, 4d.</summary>
    public static string Age(DateTimeOffset t)
    {
        var d = DateTimeOffset.UtcNow - t;
        if (d.TotalSeconds < 0) d = TimeSpan.Zero;
        return d.TotalSeconds < 60 ? $"{(int)d.TotalSeconds}s" : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes}m" : d.TotalHours < 48 ? $"{(int)d.TotalHours}h" : $"{(int)d.TotalDays}d";
    }

    /// <summary>Prints rows as aligned columns.</summary>
    public static void Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = new int[header.Length];
        foreach (var r in all)
            for (var i = 0; i < r.Length; i++) widths[i] = Math.Max(widths[i], r[i].Length);
        for (var j = 0; j < all.Count; j++)
        {
            var line = string.Join("  ", all[j].Select((c, i) => i == all[j].Length - 1 ? c : c.PadRight(widths[i])));
            Console.WriteLine(j == 0 ? Bold(line) : line);
        }
    }

    /// <summary>Reads a password: the flag, else TINYO_PASSWORD, else one line of stdin.</summary>
    public static string Password(string? flag, string what = "password")
    {
        if (flag is not null) return flag;
        if (Env("TINYO_PASSWORD") is { } p) return p;
        if (!Console.IsInputRedirected) Console.Error.Write($"{what}: ");
        return Console.In.ReadLine() ?? throw new UsageException($"no {what} given (-p, TINYO_PASSWORD or stdin)");
    }
}

/// <summary>Wrong use of the CLI (exit code 2).</summary>
internal sealed class UsageException(string message) : CtlException(message);
