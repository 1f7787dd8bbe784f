using System.Net;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// Starting and closing the test servers' <see cref="HttpListener"/> on a free loopback port, tolerating the managed
/// listener's port races: the free port can be taken between probe and bind, and Close after Stop looks the endpoint
/// up again and may try to bind its port, which another test can hold by then ("Address already in use").
/// </summary>
public static class LoopbackListener
{
    /// <summary>Starts <paramref name="listener"/> on a free 127.0.0.1 port (retrying a lost race); returns the port.</summary>
    public static int Start(HttpListener listener)
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = TestPaths.FreePort();
            listener.Prefixes.Clear();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return port;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }
    }

    /// <summary>Stops and closes <paramref name="listener"/>; it is stopped whatever Close then throws.</summary>
    public static void Close(HttpListener listener)
    {
        try
        {
            listener.Stop();
            listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (HttpListenerException)
        {
        }
    }
}
