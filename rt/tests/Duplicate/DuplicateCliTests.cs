using Tinyo.Rt.Containers;
using Tinyo.Rt.Tests.Fixtures;
using Tinyo.Rt.Tests.RunImage;

namespace Tinyo.Rt.Tests.Duplicate;

/// <summary>
/// <c>tinyort dup</c> through the real binary on busybox containers: what a clone shares with its source at the
/// instant of duplication and what it does not afterwards, its own namespaces, hostname and pid 1, its life after the
/// source is removed, many clones serving, and every refusal leaving nothing behind and the source untouched.
/// </summary>
[Collection("containers")]
public sealed class DuplicateCliTests : IDisposable
{
    private readonly ImageRoot _r = new();

    public void Dispose() => _r.Dispose();

    private string Id(string name) => ContainerNames.Lookup(_r.Root, name) ?? throw new InvalidOperationException("no container " + name);

    private int Pid(string name) => new ContainerRuntime(_r.Root).State(Id(name)).Pid;

    private void RunSource(string name = "src", params string[] extra)
    {
        var (code, _, e) = _r.Cli(["run", "-d", "--name", name, .. extra, "busybox", "sleep", "1000"]);
        Assert.True(code == 0, e);
    }

    private string Exec(string name, string script)
    {
        var (code, o, e) = _r.Cli("exec", name, "sh", "-c", script);
        Assert.True(code == 0, $"exec in {name} failed ({code}): {o}{e}");
        return o;
    }

    private static string Ns(int pid, string ns) => new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget!;

    [Fact]
    public void Clone_sees_the_source_files_at_that_instant_then_each_goes_its_own_way()
    {
        RunSource();
        Exec("src", "echo one > /a; mkdir -p /d/e; echo deep > /d/e/f; rm /bin/true");
        int srcPid = Pid("src");

        var (code, o, e) = _r.Cli("dup", "src", "c1");
        Assert.True(code == 0, e);
        var line = Assert.Single(o.Split('\n', StringSplitOptions.RemoveEmptyEntries)).Split('\t');
        Assert.Equal("c1", line[1]);
        Assert.Contains("writable layer: copy", e + " "); // ext4/tmpfs here: no reflink; XFS/Btrfs: see UpperSnapshotTests
        Assert.Equal(Id("c1"), line[0]);

        // The file and the deletion (a whiteout over the image's /bin/true) are there.
        Assert.Equal("one\ndeep\nno-true\n", Exec("c1", "cat /a /d/e/f; [ -e /bin/true ] || echo no-true"));
        // Then: the source's new writes are not the clone's, nor the reverse.
        Exec("src", "echo two > /b; echo changed > /a");
        Exec("c1", "echo three > /c");
        Assert.Equal("one\nno-b\n", Exec("c1", "cat /a; [ -e /b ] || echo no-b"));
        Assert.Equal("changed\nno-c\n", Exec("src", "cat /a; [ -e /c ] || echo no-c"));

        // Own namespaces, pid 1 and hostname; the source untouched.
        int clonePid = Pid("c1");
        Assert.Equal(int.Parse(line[2]), clonePid);
        Assert.NotEqual(srcPid, clonePid);
        foreach (var ns in new[] { "pid", "mnt", "uts", "ipc", "net", "cgroup" })
            Assert.NotEqual(Ns(srcPid, ns), Ns(clonePid, ns));
        Assert.Equal("c1\n", Exec("c1", "hostname"));
        Assert.Equal("sleep 1000 \n", Exec("c1", "tr '\\0' ' ' < /proc/1/cmdline; echo"));
        Assert.Equal("1\n", Exec("c1", "ls /proc | grep -c '^1$'"));
        Assert.Equal(srcPid, Pid("src"));
        Assert.NotEqual("c1\n", Exec("src", "hostname"));
        var (_, ps, _) = _r.Cli("ps");
        Assert.Contains("c1", ps);
    }

    [Fact]
    public void Removing_the_source_leaves_its_clones_running()
    {
        RunSource();
        Exec("src", "echo kept > /k");
        Assert.Equal(0, _r.Cli("dup", "src", "c", "-n", "2").Code);
        var srcId = Id("src");
        Assert.Equal(0, _r.Cli("rm", "-f", "src").Code);
        _r.AssertGone(srcId);
        foreach (var c in new[] { "c-1", "c-2" })
        {
            Assert.Equal("running", new ContainerRuntime(_r.Root).State(Id(c)).Status);
            Assert.Equal("kept\n", Exec(c, "cat /k"));
        }
    }

    [Fact]
    public void Twenty_clones_of_a_server_all_serve()
    {
        var (code, _, e) = _r.Cli("run", "-d", "--name", "web", "busybox", "sh", "-c",
            "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www");
        Assert.True(code == 0, e);
        Assert.Equal("hello-from-web\n", WaitServing("web"));
        (code, var o, e) = _r.Cli("dup", "web", "web", "-n", "20");
        Assert.True(code == 0, e);
        Assert.Equal(20, o.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        for (int i = 1; i <= 20; i++)
        {
            Assert.Equal("hello-from-web\n", WaitServing($"web-{i}"));
            Assert.Equal($"web-{i}\n", Exec($"web-{i}", "hostname"));
        }
    }

    private string WaitServing(string name)
    {
        for (int i = 0; ; i++)
        {
            var (code, o, _) = _r.Cli("exec", name, "wget", "-q", "-O-", "http://127.0.0.1:8080/");
            if (code == 0 || i == 50) return o;
            Thread.Sleep(100);
        }
    }

    [Fact]
    public void Bad_input_is_refused_with_a_clear_error_and_nothing_made()
    {
        RunSource();
        Exec("src", "echo one > /a");
        int srcPid = Pid("src");
        Assert.Equal(0, _r.Cli("run", "--name", "done", "busybox", "true").Code);
        Assert.Equal(0, _r.Cli("run", "-d", "--name", "taken", "busybox", "sleep", "1000").Code);
        var before = _r.ContainerIds().Order().ToList();

        void Refused(string expect, params string[] args)
        {
            var (code, o, e) = _r.Cli(["dup", .. args]);
            Assert.True(code != 0, $"dup {string.Join(' ', args)} succeeded: {o}");
            Assert.Contains(expect, e);
            Assert.DoesNotContain("   at ", e); // one line, no stack trace
            Assert.Equal(before, _r.ContainerIds().Order().ToList());
        }
        Refused("no container named nope", "nope", "x");
        Refused("container done is exited: only a running container can be duplicated", "done", "x");
        Refused("\"taken\" is already in use", "src", "taken");
        Refused("-n 0 is out of range: 1 to 1000", "src", "x", "-n", "0");
        Refused("-n 1001 is out of range: 1 to 1000", "src", "x", "-n", "1001");
        Refused("--parallel -1 is out of range: 0 to 1000", "src", "x", "--parallel", "-1");
        Refused("invalid container name", "src", "../x");

        Assert.Equal(srcPid, Pid("src"));
        Assert.Equal("one\n", Exec("src", "cat /a"));
    }

    [Fact]
    public void A_clone_whose_set_up_fails_half_way_leaves_nothing_and_the_source_runs_on()
    {
        var vol = Directory.CreateTempSubdirectory("tinyo-dupvol-").FullName;
        try
        {
            RunSource("src", "-v", vol + ":/data");
            Exec("src", "echo one > /data/x; echo up > /u");
            int srcPid = Pid("src");
            var before = _r.ContainerIds().Order().ToList();
            // The volume's source becomes a file: the clone's bind mount of it on the directory /data fails inside
            // its set-up, after its directory, name, snapshot and cgroup exist.
            Directory.Delete(vol, recursive: true);
            File.WriteAllText(vol, "now a file");
            var (code, o, e) = _r.Cli("dup", "src", "half", "-n", "3");
            Assert.True(code != 0, o);
            Assert.Contains("/data", e);
            Assert.Equal(before, _r.ContainerIds().Order().ToList());
            for (int i = 1; i <= 3; i++) Assert.Null(ContainerNames.Lookup(_r.Root, $"half-{i}"));
            // The error names the failing clone's id (clones are made in parallel: any of the three may fail first):
            // nothing of it (directory, name, cgroup, mount) is left.
            var m = System.Text.RegularExpressions.Regex.Match(e, @"half-[1-3] \(id ([0-9a-f]{12})\)");
            Assert.True(m.Success, e);
            _r.AssertGone(m.Groups[1].Value);
            Assert.Equal(srcPid, Pid("src"));
            Assert.Equal("up\n", Exec("src", "cat /u"));
        }
        finally
        {
            if (File.Exists(vol)) File.Delete(vol);
            if (Directory.Exists(vol)) Directory.Delete(vol, true);
        }
    }

    [Fact]
    public void A_batch_that_fails_at_its_third_clone_removes_the_two_made_before_it()
    {
        RunSource();
        int srcPid = Pid("src");
        var before = _r.ContainerIds().Order().ToList();
        var ids = new List<string>();
        var pids = new List<int>();
        var missing = System.IO.Path.Combine(_r.Path, "no-such-dir");
        var ic = new ImageContainers(new ContainerRuntime(_r.Root));
        var dup = new Tinyo.Rt.Duplicate.ContainerDuplicator(ic);
        var err = Assert.Throws<RtException>(() => dup.Duplicate(new Tinyo.Rt.Duplicate.DuplicateRequest
        {
            Source = "src", Name = "batch", Count = 4, Parallelism = 1, // one after another: clone 3 fails after 1 and 2 run
            Adjust = (c, spec) =>
            {
                ids.Add(c.Id);
                // The clones before this one run by now: note their processes, to check they are gone afterwards.
                foreach (var id in ids.Take(ids.Count - 1))
                    if (pids.Count < ids.Count - 1) pids.Add(new ContainerRuntime(_r.Root).State(id).Pid);
                // The third clone's set-up fails inside its child: a bind from a source that does not exist.
                if (c.Index == 2)
                    spec.Mounts!.Add(new Tinyo.Rt.Oci.SpecMount { Destination = "/gone", Type = "bind", Source = missing, Options = ["rbind"] });
            },
        }));
        Assert.Equal(3, ids.Count); // the fourth was never started
        Assert.Equal(2, pids.Count);
        Assert.Contains("batch-3", err.Message);
        Assert.Contains("the 2 other clones this request made were removed", err.Message);
        // Nothing of any clone is left: directories, names, cgroups, mounts — and the first two's processes are gone.
        Assert.Equal(before, _r.ContainerIds().Order().ToList());
        foreach (var id in ids) _r.AssertGone(id);
        for (int i = 1; i <= 4; i++) Assert.Null(ContainerNames.Lookup(_r.Root, $"batch-{i}"));
        foreach (var pid in pids)
            Assert.True(!Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] == "Z", $"clone process {pid} still runs");
        Assert.Equal(srcPid, Pid("src"));
        Assert.Equal("1\n", Exec("src", "echo 1"));
    }

    [Fact]
    public void A_parallel_batch_that_fails_at_one_clone_removes_every_other_clone_of_it()
    {
        RunSource();
        int srcPid = Pid("src");
        var before = _r.ContainerIds().Order().ToList();
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        var missing = System.IO.Path.Combine(_r.Path, "no-such-dir");
        // Clones 1 and 2 wait for each other inside their set-up: they meet only if they are made at the same time.
        using var meet = new Barrier(2);
        bool met = true;
        var dup = new Tinyo.Rt.Duplicate.ContainerDuplicator(new ImageContainers(new ContainerRuntime(_r.Root)));
        var err = Assert.Throws<RtException>(() => dup.Duplicate(new Tinyo.Rt.Duplicate.DuplicateRequest
        {
            Source = "src", Name = "par", Count = 8, Parallelism = 3,
            Adjust = (c, spec) =>
            {
                ids.Add(c.Id);
                if (c.Index < 2 && !meet.SignalAndWait(TimeSpan.FromSeconds(20))) met = false;
                if (c.Index == 4)
                    spec.Mounts!.Add(new Tinyo.Rt.Oci.SpecMount { Destination = "/gone", Type = "bind", Source = missing, Options = ["rbind"] });
            },
        }));
        Assert.True(met, "clones 1 and 2 were not made at the same time");
        Assert.Contains("par-5", err.Message);
        Assert.True(ids.Count >= 5, $"{ids.Count} clones started");
        // All or nothing: every clone the request started is gone, whichever finished first.
        Assert.Equal(before, _r.ContainerIds().Order().ToList());
        foreach (var id in ids) _r.AssertGone(id);
        for (int i = 1; i <= 8; i++) Assert.Null(ContainerNames.Lookup(_r.Root, $"par-{i}"));
        Assert.Equal(srcPid, Pid("src"));
        Assert.Equal("1\n", Exec("src", "echo 1"));
    }

    [Fact]
    public void Clones_made_in_parallel_each_run_with_their_own_pid_hostname_and_memory_merge()
    {
        RunSource();
        var (code, o, e) = _r.Cli("dup", "src", "p", "-n", "6", "--parallel", "3");
        Assert.True(code == 0, e);
        var lines = o.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        var pids = new HashSet<int>();
        for (int i = 1; i <= 6; i++)
        {
            var line = Array.Find(lines, l => l.Split('\t')[1] == $"p-{i}");
            Assert.True(line is not null, $"p-{i} missing from: {o}");
            int pid = int.Parse(line!.Split('\t')[2]);
            Assert.Equal(pid, Pid($"p-{i}"));
            Assert.True(pids.Add(pid));
            Assert.Equal("running", new ContainerRuntime(_r.Root).State(Id($"p-{i}")).Status);
            Assert.Equal($"p-{i}\n", Exec($"p-{i}", "hostname"));
            // Every clone got the flag, though the launching threads took it off the launching process in turn.
            if (Rt.Duplicate.MemoryMerge.Supported)
                Assert.Contains("ksm_merge_any: yes", File.ReadAllText($"/proc/{pid}/ksm_stat"));
        }
        Assert.Equal(0, _r.Cli("dup", "src", "q", "-n", "2", "--parallel", "2", "--no-memory-merge").Code);
        if (Rt.Duplicate.MemoryMerge.Supported)
            foreach (var q in new[] { "q-1", "q-2" })
                Assert.Contains("ksm_merge_any: no", File.ReadAllText($"/proc/{Pid(q)}/ksm_stat"));
    }

    [SkippableFact]
    public void Live_is_refused_with_criu_s_reason_where_criu_check_fails()
    {
        var why = Rt.Duplicate.LiveState.Unavailable();
        Skip.If(why is null, "criu check passes on this host: --live would be attempted (restore is not implemented yet)");
        RunSource();
        var before = _r.ContainerIds().Order().ToList();
        var (code, _, e) = _r.Cli("dup", "src", "live", "--live");
        Assert.NotEqual(0, code);
        Assert.Contains("--live refused: ", e);
        Assert.Contains("criu", e);
        Assert.Equal(before, _r.ContainerIds().Order().ToList());
    }

    [SkippableFact]
    public void Clones_opt_into_same_page_merging()
    {
        Skip.IfNot(Rt.Duplicate.MemoryMerge.Supported, "this kernel has no PR_SET_MEMORY_MERGE (Linux 6.4 or later)");
        RunSource();
        var (code, _, e) = _r.Cli("dup", "src", "m");
        Assert.True(code == 0, e);
        Assert.Contains("memory merge: on", e);
        var stat = File.ReadAllText($"/proc/{Pid("m")}/ksm_stat");
        Assert.Contains("ksm_merge_any: yes", stat);
        Assert.Contains("ksm_merge_any: no", File.ReadAllText($"/proc/{Pid("src")}/ksm_stat"));
        // And opting out.
        (code, _, e) = _r.Cli("dup", "src", "n", "--no-memory-merge");
        Assert.True(code == 0, e);
        Assert.Contains("ksm_merge_any: no", File.ReadAllText($"/proc/{Pid("n")}/ksm_stat"));
        // A source can opt in too, from its start.
        RunSource("src2", "--memory-merge");
        Assert.Contains("ksm_merge_any: yes", File.ReadAllText($"/proc/{Pid("src2")}/ksm_stat"));
    }

    [SkippableFact]
    public void A_full_disk_during_the_snapshot_leaves_no_clone_and_the_source_untouched()
    {
        using var fs = new SmallTmpfs(40 * 1024);
        Skip.If(fs.Unavailable is not null, fs.Unavailable ?? "");
        using var r = new ImageRoot(fs.Dir);
        var (code, _, e) = r.Cli("run", "-d", "--name", "big", "busybox", "sleep", "1000");
        Assert.True(code == 0, e);
        // More than half of what is free: the copy cannot fit (tmpfs has no reflink).
        long free = fs.Free;
        (code, _, e) = r.Cli("exec", "big", "sh", "-c", $"head -c {free * 6 / 10} /dev/zero > /big && sync && echo ok");
        Assert.True(code == 0, e);
        var id = ContainerNames.Lookup(r.Root, "big")!;
        int pid = new ContainerRuntime(r.Root).State(id).Pid;
        var before = r.ContainerIds().Order().ToList();
        (code, var o, e) = r.Cli("dup", "big", "full");
        Assert.True(code != 0, o);
        Assert.Contains("no space left", e);
        Assert.Equal(before, r.ContainerIds().Order().ToList());
        Assert.Null(ContainerNames.Lookup(r.Root, "full"));
        Assert.Equal(pid, new ContainerRuntime(r.Root).State(id).Pid);
        (code, o, _) = r.Cli("exec", "big", "sh", "-c", "wc -c < /big");
        Assert.Equal(0, code);
        Assert.Equal(free * 6 / 10, long.Parse(o.Trim()));
    }
}
