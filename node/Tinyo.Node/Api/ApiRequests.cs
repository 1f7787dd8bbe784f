using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Security;

namespace Tinyo.Node.Api;

/// <summary>A request the API refuses before touching any state: answered with <see cref="Status"/> and a code.</summary>
public class ApiRequestException(int status, string message, string code = "bad_request") : NodeException(message)
{
    /// <summary>The HTTP status to answer.</summary>
    public int Status { get; } = status;

    /// <summary>The machine-readable error code of the answer's body.</summary>
    public string Code { get; } = code;
}

/// <summary>
/// Parsing and validation of the API's request bodies, without any state: what the handlers of <see cref="NodeApi"/>
/// check before they read or write the store. Kept pure so that the fuzz harness exercises exactly this code.
/// Errors are <see cref="ApiRequestException"/> (and <see cref="StatefileException"/> for an apply's YAML).
/// </summary>
public static class ApiRequests
{
    private static readonly ApiJson J = ApiJson.Default;

    /// <summary>Deserialises a JSON body; an empty, null or malformed body is a 400.</summary>
    public static T Body<T>(byte[] body, JsonTypeInfo<T> info)
    {
        if (body.Length == 0) throw new ApiRequestException(400, "a JSON body is required");
        try
        {
            return JsonSerializer.Deserialize(body, info) ?? throw new ApiRequestException(400, "a JSON body is required");
        }
        catch (JsonException e)
        {
            throw new ApiRequestException(400, $"invalid JSON body: {e.Message}");
        }
    }

    /// <summary>Checks a net, user, secret or app name (the statefile's rule).</summary>
    public static string ValidName(string? name, string what)
    {
        if (name is null || !Statefile.IsValidName(name))
            throw new ApiRequestException(400, $"invalid {what} name '{Printable.Escape(name)}': 1-63 of a-z, 0-9 and '-', not starting or ending with '-'");
        return name;
    }

    /// <summary>Checks a new password's length.</summary>
    public static void CheckPassword(string? p)
    {
        if (p is null || p.Length < Passwords.MinLength) throw new ApiRequestException(400, $"password too short (at least {Passwords.MinLength} characters)");
        if (p.Length > 1024) throw new ApiRequestException(400, "password too long (at most 1024 characters)");
    }

    /// <summary>POST /v1/init.</summary>
    public static InitRequest Init(byte[] body)
    {
        var r = Body(body, J.InitRequest);
        ValidName(r.Net, "net");
        ValidName(r.User, "user");
        CheckPassword(r.Password);
        return r;
    }

    /// <summary>POST /v1/login: any user name is accepted here (a wrong one fails like a wrong password).</summary>
    public static LoginRequest Login(byte[] body) => Body(body, J.LoginRequest);

    /// <summary>POST /v1/users.</summary>
    public static UserRequest User(byte[] body)
    {
        var r = Body(body, J.UserRequest);
        ValidName(r.Name, "user");
        CheckPassword(r.Password);
        return r;
    }

    /// <summary>POST /v1/nets.</summary>
    public static NetRequest Net(byte[] body)
    {
        var r = Body(body, J.NetRequest);
        ValidName(r.Name, "net");
        return r;
    }

    /// <summary>PUT /v1/secrets/NAME: the decoded value (the caller zeroes it after sealing).</summary>
    public static byte[] Secret(string name, byte[] body)
    {
        ValidName(name, "secret");
        var r = Body(body, J.SecretRequest);
        byte[] value;
        try
        {
            value = Convert.FromBase64String(r.Value ?? "");
        }
        catch (FormatException)
        {
            throw new ApiRequestException(400, "secret value must be base64");
        }
        if (value.Length > 1 << 20)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(value);
            throw new ApiRequestException(413, "secret larger than 1 MiB");
        }
        return value;
    }

    /// <summary>POST /v1/apps: the statefile's name (no directories) and its validated apps.</summary>
    public static (string File, IReadOnlyList<AppSpec> Specs) Apply(byte[] body)
    {
        var r = Body(body, J.ApplyRequest);
        var file = string.IsNullOrEmpty(r.File) ? "statefile.yml" : Path.GetFileName(r.File);
        if (r.BaseDir is { } bd && !Path.IsPathRooted(bd)) throw new ApiRequestException(400, "base_dir must be an absolute path");
        // The node parses again whatever the client checked: its limits (size, nodes, alias expansion) hold here too.
        if (r.Yaml is { } y && System.Text.Encoding.UTF8.GetByteCount(y) > Statefile.MaxBytes)
            throw new ApiRequestException(413, $"{Printable.Escape(file)}: statefile larger than {Statefile.MaxBytes >> 20} MiB");
        return (file, Statefile.Parse(r.Yaml ?? "", file, r.BaseDir)); // StatefileException → 422 with the position
    }

    /// <summary>
    /// Refuses an app that publishes a host port the node itself serves on (<paramref name="reserved"/>: port and
    /// what uses it, e.g. the API's --listen-tcp): its proxy would take the node's own clients' connections.
    /// </summary>
    public static void CheckReservedPorts(string file, IReadOnlyList<AppSpec> specs, IReadOnlyList<(int Port, string What)> reserved)
    {
        foreach (var s in specs)
            foreach (var p in s.Ports)
                foreach (var (port, what) in reserved)
                    if (p.Protocol == "tcp" && p.Host == port)
                        throw new ApiRequestException(422, $"{file}: app {s.Name}: port {port} is {what}: choose another host port", "port_reserved");
    }
}
