using Tinyo.Rt.Network;

namespace Tinyo.Rt.Tests.Network;

/// <summary>
/// A temp directory for namespace files plus a "host" network namespace of the test's own, so nothing touches the
/// machine's real network. Dispose removes every namespace file still there (unmount + unlink) and the directory.
/// </summary>
public sealed class NetnsScratch : IDisposable
{
    public NetnsScratch()
    {
        Dir = Directory.CreateTempSubdirectory("tinyo-netns-").FullName;
        Host = NetworkNamespace.Create(Path.Combine(Dir, "host"));
    }

    public string Dir { get; }

    /// <summary>The test's stand-in for the node's namespace.</summary>
    public NetworkNamespace Host { get; }

    public string PathOf(string name) => Path.Combine(Dir, name);

    public void Dispose()
    {
        Host.Dispose();
        foreach (var f in Directory.GetFiles(Dir)) NetworkNamespace.Remove(f);
        Directory.Delete(Dir, true);
    }
}
