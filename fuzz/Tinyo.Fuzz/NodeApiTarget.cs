using System.Buffers;
using Tinyo.Node.Api;
using Tinyo.Node.Http;

namespace Tinyo.Fuzz;

/// <summary>
/// The node API's request bodies, parsed and validated by <see cref="ApiRequests"/> exactly as the handlers do before
/// they touch the store. Two input shapes:
/// <list type="bullet">
/// <item>a whole HTTP request (the input starts with an upper-case letter, as every method does): the head goes
/// through the node's HTTP parser, the body is cut at its Content-Length as the server does, and the route picks the
/// body parser (the route table of <see cref="NodeApi"/>, restated here for the pure parsers);</item>
/// <item>otherwise the first byte picks a body parser and the rest is the body (for secrets: a name line, then the
/// body), so the fuzzer spends its time in the JSON and statefile parsers rather than in HTTP heads.</item>
/// </list>
/// </summary>
internal static class NodeApiTarget
{
    private static readonly HttpLimits Limits = new() { MaxHeaderBytes = 8192, MaxHeaders = 64, MaxBodyBytes = 1 << 20 };

    public static void Run(byte[] input)
    {
        if (input.Length == 0) return;
        if (input[0] is >= (byte)'A' and <= (byte)'Z') { Http(input); return; }
        var body = input.AsSpan(1);
        switch (input[0] % 6)
        {
            case 0: ApiRequests.Init(body.ToArray()); break;
            case 1: ApiRequests.Login(body.ToArray()); break;
            case 2: ApiRequests.User(body.ToArray()); break;
            case 3: ApiRequests.Net(body.ToArray()); break;
            case 4:
                var nl = body.IndexOf((byte)'\n');
                var name = nl < 0 ? "" : Input.Utf8(body[..nl].ToArray());
                ApiRequests.Secret(name, body[(nl + 1)..].ToArray());
                break;
            default: ApiRequests.Apply(body.ToArray()); break;
        }
    }

    private static void Http(byte[] input)
    {
        if (!HttpParser.TryParseHead(new ReadOnlySequence<byte>(input), Limits, out var req, out var consumed) || req is null)
            return; // incomplete head: the server would wait for more bytes
        var length = HttpParser.ContentLength(req, Limits);
        if (input.Length - consumed < length) return; // incomplete body: likewise
        req.Body = input.AsSpan((int)consumed, (int)length).ToArray();
        // NodeApi.HandleAsync's routing: /v1/RESOURCE[/NAME].
        var parts = req.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || parts[0] != NodeApi.ApiVersion || parts.Length > 3) return; // 404
        var name = parts.Length == 3 ? parts[2] : null;
        switch (parts[1], req.Method, name)
        {
            case ("init", "POST", null): ApiRequests.Init(req.Body); break;
            case ("login", "POST", null): ApiRequests.Login(req.Body); break;
            case ("users", "POST", null): ApiRequests.User(req.Body); break;
            case ("nets", "POST", null): ApiRequests.Net(req.Body); break;
            case ("secrets", "PUT", { } n): ApiRequests.Secret(n, req.Body); break;
            case ("apps", "POST", null): ApiRequests.Apply(req.Body); break;
            case ("users" or "nets" or "secrets" or "apps", "DELETE", { } n): ApiRequests.ValidName(n, parts[1]); break;
        }
    }
}
