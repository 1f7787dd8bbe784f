using Tinyo.Node.Cluster;

namespace Tinyo.Fuzz;

/// <summary>
/// The join request parser (<see cref="JoinRequests"/>): bodies of <c>POST /v1/cluster/challenge</c> and
/// <c>/join</c>, which anyone who reaches a clustered node's TCP port can send before authenticating. An input
/// starting with <c>{</c> is tried as both; otherwise the first byte picks the parser and the rest is the body.
/// </summary>
internal static class JoinTarget
{
    public static void Run(byte[] input)
    {
        if (input.Length == 0) return;
        if (input[0] == (byte)'{')
        {
            Try(() => JoinRequests.Challenge(input));
            JoinRequests.Join(input);
            return;
        }
        var body = input.AsSpan(1).ToArray();
        if (input[0] % 2 == 0) JoinRequests.Challenge(body);
        else JoinRequests.Join(body);
    }

    private static void Try(Action a)
    {
        try
        {
            a();
        }
        catch (Tinyo.Node.NodeException)
        {
            // expected for most inputs; the second parser still runs
        }
    }
}
