using System.Diagnostics;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// OCI namespace conformance (runtime-tools' <c>linux_ns_itype</c> and <c>linux_ns_path</c>) and recursive read-only
/// binds, on both back-ends: a config without a mount namespace shares the host's; namespaces named by path (mount,
/// pid, network, ipc, uts — and a network namespace prepared with <c>ip netns</c>, as cluster networks will) are
/// joined; a read-only bind is read-only for the filesystems mounted below its source too.
/// </summary>
[Collection("containers")]
public sealed class NamespaceJoinTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private (ExitStatus Status, string Output) Run(TestBundle b, bool direct, Action<int>? started = null)
    {
        var id = ContainerHarness.NewId(direct ? "nd" : "ni");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, id + ".out");
        using var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite);
        var (path, aot) = ContainerHarness.Binary;
        var rt = new ContainerRuntime(_h.Root, new RuntimeOptions
        {
            InitCommand = [path], SealInit = aot, Stdout = (int)f.DangerousGetHandle(), Stderr = (int)f.DangerousGetHandle(),
            DirectStart = direct, Warn = _h.Warnings.Add,
        });
        var st = rt.Run(id, b.Write(), started);
        _h.AssertGone(id, b);
        return (st, File.ReadAllText(outFile));
    }

    private static string Ns(int pid, string type) => new FileInfo($"/proc/{pid}/ns/{type}").LinkTarget ?? "";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutAMountNamespaceTheContainerSharesTheHosts(bool direct)
    {
        using var b = new TestBundle("sh", "-c", "sleep 1; echo done");
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "mount");
        string seen = "";
        var (st, output) = Run(b, direct, pid => seen = Ns(pid, "mnt"));
        Assert.Equal(0, st.Code);
        Assert.Contains("done", output);
        Assert.Equal(Ns(Environment.ProcessId, "mnt"), seen);
        Assert.NotEqual("", seen); // the link was read while the container ran
        Assert.Contains(_h.Warnings, w => w.Contains("no mount namespace"));
        // Nothing of the container was mounted on the host (Run's AssertGone checks no mount names the bundle).
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NamespacesNamedByPathAreJoined(bool direct)
    {
        // As runtime-tools does: unshare(1) holds new namespaces (its forked child is pid 1 of the pid one).
        using var holder = Process.Start(new ProcessStartInfo("unshare", ["--mount", "--net", "--ipc", "--uts", "--pid", "--fork", "sleep", "60"])
            { UseShellExecute = false })!;
        try
        {
            int u = holder.Id;
            string Want(string t) => t == "pid" ? new FileInfo($"/proc/{u}/ns/pid_for_children").LinkTarget ?? "" : Ns(u, t);
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (Want("pid") == Ns(Environment.ProcessId, "pid") || Want("mnt") == Ns(Environment.ProcessId, "mnt"))
            {
                Assert.True(DateTime.UtcNow < deadline, "unshare did not set up its namespaces");
                Thread.Sleep(20);
            }
            using var b = new TestBundle("sh", "-c", "sleep 1; hostname");
            b.Spec.Hostname = "joined";
            foreach (var n in b.Spec.Linux!.Namespaces!)
                n.Path = n.Type switch
                {
                    "mount" => $"/proc/{u}/ns/mnt", "network" => $"/proc/{u}/ns/net", "ipc" => $"/proc/{u}/ns/ipc",
                    "uts" => $"/proc/{u}/ns/uts", "pid" => $"/proc/{u}/ns/pid_for_children", _ => n.Path,
                };
            var seen = new Dictionary<string, string>();
            var (st, output) = Run(b, direct, pid => { foreach (var t in new[] { "mnt", "net", "ipc", "uts", "pid" }) seen[t] = Ns(pid, t); });
            Assert.Equal(0, st.Code);
            Assert.Contains("joined", output);
            foreach (var t in new[] { "mnt", "net", "ipc", "uts", "pid" })
            {
                Assert.Equal(Want(t), seen[t]);
                Assert.NotEqual(Ns(Environment.ProcessId, t), seen[t]);
            }
        }
        finally
        {
            try { holder.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            holder.WaitForExit();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APreparedNetworkNamespaceIsJoinedByPath(bool direct)
    {
        var name = "tinyo-h1-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            // Inside the try: a failure half-way (the namespace made, the link refused) still removes the namespace.
            Assert.Equal(0, Sh($"ip netns add {name} && ip -n {name} link add tinyo0 type veth peer name tinyo1"));
            using var b = new TestBundle("sh", "-c", "ls /sys/class/net");
            b.Spec.Linux!.Namespaces!.Find(n => n.Type == "network")!.Path = "/run/netns/" + name;
            var (st, output) = Run(b, direct);
            Assert.Equal(0, st.Code);
            Assert.Contains("tinyo0", output); // the prepared namespace's own interface
        }
        finally { if (File.Exists("/run/netns/" + name)) Sh($"ip netns del {name}"); }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AReadOnlyBindIsReadOnlyForWhatIsMountedBelowItsSource(bool direct)
    {
        var src = Directory.CreateTempSubdirectory("tinyo-rro-").FullName;
        var inner = Path.Combine(src, "inner");
        Directory.CreateDirectory(inner);
        try
        {
            Assert.Equal(0, Sh($"mount -t tmpfs tinyo-rro {inner}"));
            using var b = new TestBundle("sh", "-c", "touch /data/top 2>&1; touch /data/inner/x 2>&1; echo end");
            b.Spec.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = src, Options = ["rbind", "rprivate", "ro"] });
            var (st, output) = Run(b, direct);
            Assert.Equal(0, st.Code);
            Assert.Contains("touch: /data/top: Read-only file system", output);
            Assert.Contains("touch: /data/inner/x: Read-only file system", output);
            Assert.False(File.Exists(Path.Combine(inner, "x")));
            // The host's tmpfs itself stays writable: only the container's copy of the tree is read-only.
            File.WriteAllText(Path.Combine(inner, "host"), "ok");
        }
        finally
        {
            if (File.ReadAllText("/proc/self/mountinfo").Contains(inner)) Sh($"umount {inner}");
            Directory.Delete(src, recursive: true);
        }
    }

    private static int Sh(string cmd)
    {
        using var p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", cmd]) { UseShellExecute = false })!;
        p.WaitForExit();
        return p.ExitCode;
    }
}
