using System.Diagnostics;
using System.Text;
using Tinyo.Api;
using Tinyo.Ctl.Client;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// tio logs / tio exec through the real binaries against a replica container made directly with tinyort under the
/// node's runtime root (ROOT/rt), named as the reconciler names replicas (APP-N): no reconciler needed.
/// </summary>
[Collection("e2e")]
public sealed class LogsExecTests
{
    private static (int Code, string Out, string Err) Rt(string rtRoot, params string[] args)
        => TestPaths.Run(TestPaths.Tinyort, ["--root", rtRoot, .. args], timeoutMs: 60_000);

    private static void Ok((int Code, string Out, string Err) r, string what)
        => Assert.True(r.Code == 0, $"{what} failed ({r.Code}): {r.Out}{r.Err}");

    [Fact]
    public async Task Logs_and_exec_of_a_replica()
    {
        await using var n = await TioNode.InitAsync();
        var rt = Path.Combine(n.Root, "rt");
        try
        {
            Ok(Rt(rt, "load", BusyboxImage.Get().Layout, "--name", "busybox"), "load");
            Ok(Rt(rt, "run", "-d", "--name", "web-1", "busybox", "sh", "-c",
                "echo hello; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"), "run");
            await WaitForAsync(() => File.ReadAllText(LogOf(rt, "web-1")).Contains("tick 3"));

            // logs: everything, then the tail.
            var all = await n.Tio(["logs", "web"]);
            Ok(all, "logs");
            Assert.StartsWith("hello\noops\ntick 0\n", all.Out);
            var tail = await n.Tio(["logs", "--tail", "2", "web"]);
            Ok(tail, "logs --tail");
            Assert.Equal(2, tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.All(tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("tick ", l));

            // exec: stdout, stderr and the exit code, each where it belongs.
            var ex = await n.Tio(["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
            Assert.Equal(3, ex.Code);
            Assert.Equal("out\n", ex.Out);
            Assert.Equal("err\n", ex.Err);
            var env = await n.Tio(["exec", "-e", "GREETING=hi there", "web", "--", "sh", "-c", "echo $GREETING; hostname"]);
            Ok(env, "exec -e");
            Assert.StartsWith("hi there\n", env.Out);
            // A big output arrives whole (framing across chunk boundaries).
            var big = await n.Tio(["exec", "web", "--", "sh", "-c", "yes 0123456789abcdef | head -c 3000000"]);
            Ok(big, "exec big");
            Assert.Equal(3_000_000, big.Out.Length);
            // A command that is not there: a clear error, not an exit code from nowhere.
            var missing = await n.Tio(["exec", "web", "--", "no-such-tool"]);
            Assert.Equal(1, missing.Code);
            Assert.Contains("no-such-tool", missing.Err);
            Assert.Contains("not found", missing.Err);
            Assert.Equal(2, (await n.Tio(["exec", "-it", "web", "--", "sh"])).Code); // not yet: usage error
            // Unknown replica / app: 404 → exit 4.
            var r2 = await n.Tio(["exec", "-r", "2", "web", "--", "true"]);
            Assert.Equal(4, r2.Code);
            Assert.Contains("no such app: web", r2.Err); // web-2 does not exist and no app web was applied
            Assert.Equal(4, (await n.Tio(["logs", "-r", "2", "web"])).Code);

            // Without a token: 401 for both routes.
            var anon = n.Api();
            var e1 = await Assert.ThrowsAsync<ApiException>(() => anon.LogsAsync("web", 1, null, false, Stream.Null));
            Assert.Equal(401, e1.Status);
            var e2 = await Assert.ThrowsAsync<ApiException>(() => anon.ExecAsync("web", new ExecRequest(["true"]), Stream.Null, Stream.Null));
            Assert.Equal(401, e2.Status);

            // A client that goes away takes its command along: the node kills (and reaps) it.
            var sleeper = StartTio(n, ["exec", "web", "--", "sleep", "7777"]);
            await WaitForAsync(() => Sleepers().Count > 0);
            sleeper.Kill();
            sleeper.WaitForExit();
            sleeper.Dispose();
            await WaitForAsync(() => Sleepers().Count == 0);

            // logs -f streams new lines, and ends by itself when the container stops.
            var follow = StartTio(n, ["logs", "-f", "--tail", "0", "web"]);
            var seen = new StringBuilder();
            var reading = Task.Run(async () =>
            {
                var buf = new char[4096];
                int k;
                while ((k = await follow.StandardOutput.ReadAsync(buf)) > 0) lock (seen) seen.Append(buf, 0, k);
            });
            await WaitForAsync(() => { lock (seen) return seen.ToString().Split('\n').Count(l => l.StartsWith("tick ")) >= 3; });
            Ok(Rt(rt, "kill", "web-1", "KILL"), "kill");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await follow.WaitForExitAsync(cts.Token);
            await reading;
            Assert.Equal(0, follow.ExitCode);
            Assert.DoesNotContain("hello", seen.ToString()); // --tail 0: only what came after
            follow.Dispose();

            // exec in a stopped container: 409, exit 5.
            var stopped = await n.Tio(["exec", "web", "--", "true"]);
            Assert.Equal(5, stopped.Code);
            Assert.Contains("not running", stopped.Err);
        }
        finally
        {
            Rt(rt, "rm", "-f", "web-1");
        }
    }

    /// <summary>Pids whose command line is exactly `sleep 7777` (the exec'd command, seen from the host).</summary>
    private static List<int> Sleepers()
    {
        var pids = new List<int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(d, "cmdline")) == "sleep\07777\0") pids.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return pids;
    }

    private static string LogOf(string rtRoot, string name)
        => Path.Combine(rtRoot, "containers", new FileInfo(Path.Combine(rtRoot, "names", name)).LinkTarget!, "container.log");

    private static Process StartTio(TioNode n, string[] args)
    {
        var psi = Binaries.Start("tio");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        foreach (var k in (string[])["TINYO_HOST", "TINYO_TOKEN"]) psi.Environment.Remove(k);
        psi.Environment["TINYO_SOCKET"] = n.Socket;
        psi.Environment["TINYO_ROOT"] = n.Root;
        psi.Environment["XDG_CONFIG_HOME"] = Path.Combine(n.Dir, "config");
        return Process.Start(psi)!;
    }

    private static async Task WaitForAsync(Func<bool> cond, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!cond())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(50);
        }
    }
}
