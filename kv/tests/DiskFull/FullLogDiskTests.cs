using Tinyo.Rt.Tests.Fixtures;
using System.Diagnostics;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Tests.Cluster;

namespace Tinyo.Kv.Tests.DiskFull;

/// <summary>tinyokv whose log file is on a full disk (issue 10, item 7: it exited 70 on its first log line).</summary>
[Collection("cluster")]
public class FullLogDiskTests
{
    [SkippableFact]
    public async Task A_member_whose_log_cannot_be_written_serves_and_reports_the_lost_lines_later()
    {
        using var disk = new SmallTmpfs(1 * 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        var data = Directory.CreateTempSubdirectory("tinyokv-fulllog-").FullName;
        var log = Path.Combine(disk.Dir, "tinyokv.log");
        File.WriteAllText(log, "");
        disk.Fill();
        int client = TestCluster.FreePort(), peer = TestCluster.FreePort();
        // As tio ++ starts it: stdout and stderr appended to a log file.
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false };
        foreach (var a in (string[])["-c", "log=$1; shift; exec \"$@\" >>\"$log\" 2>&1 </dev/null", "sh", log]) psi.ArgumentList.Add(a);
        foreach (var a in Binary.Command) psi.ArgumentList.Add(a);
        foreach (var a in (string[])["serve", "--name", "m1", "--data-dir", data, "--listen-peer", $"127.0.0.1:{peer}",
                     "--listen-client", $"127.0.0.1:{client}", "--token", TestCluster.Token, "--bootstrap"])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        try
        {
            await using var kv = new KvClient(new KvClientOptions
            {
                Endpoints = [Endpoints.Parse($"127.0.0.1:{client}")], Token = TestCluster.Token, RequestTimeout = TimeSpan.FromSeconds(30),
            });
            await kv.PutAsync(Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("v"));
            Assert.False(p.HasExited, $"tinyokv exited ({(p.HasExited ? p.ExitCode : 0)}) with its log on a full disk");
            Assert.Equal(0, new FileInfo(log).Length); // nothing could be written

            // Space back: the next line (here the one SIGTERM makes) comes after a notice of what was lost.
            File.Delete(Path.Combine(disk.Dir, "filler"));
            using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", p.Id.ToString()]) { UseShellExecute = false })!) kill.WaitForExit();
            Assert.True(p.WaitForExit(30_000), "tinyokv did not stop on SIGTERM");
            Assert.Equal(0, p.ExitCode);
            var text = File.ReadAllText(log);
            Assert.Contains("dropped while the log could not be written (no space left on device)", text, StringComparison.Ordinal);
            Assert.Contains("m1 stopping", text, StringComparison.Ordinal);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            p.WaitForExit();
            Directory.Delete(data, recursive: true);
        }
    }
}
