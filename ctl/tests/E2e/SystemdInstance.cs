using System.Diagnostics;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// A real systemd (the host's /lib/systemd/systemd) booted as PID 1 of new PID, mount, cgroup, UTS and IPC
/// namespaces, sharing the host's network (loopback ports, the test registry). Commands run inside with nsenter, so
/// `tio ++` there sees /run/systemd/system and drives this instance through systemctl.
///
/// What it needs and how it stays contained:
/// <list type="bullet">
/// <item>cgroups: the boot script moves itself into a fresh <c>tinyo-sd-N</c> child of its cgroup in every hierarchy
/// and unshares the cgroup namespace there, then mounts the hierarchies again inside, so systemd's root slice (and
/// everything below it, the node's containers included) is that child; Dispose removes the subtree.</item>
/// <item>filesystems: the host's / read-only; tmpfs on /run, /tmp, /etc/systemd/system (where tio writes units),
/// /var/lib/systemd, /var/log/journal, /var/tmp; /proc/sys and /sys read-only (no host sysctl is written);
/// <see cref="Work"/> (a host temp dir) bound read-write at the same path, so the test reads the node's files.</item>
/// <item>units: <c>SYSTEMD_UNIT_PATH</c> is /etc/systemd/system plus a directory of empty stand-ins for the targets
/// services depend on (sysinit, basic, multi-user...) and journald, so none of the host's own services (udev,
/// networking, sysctl, getty...) can start in here; generators are switched off the same way.</item>
/// </list>
/// Dispose: <c>systemctl --force exit</c>, SIGKILL of this namespace's PID 1 if it lingers (the kernel then kills
/// every process in it), then the cgroup subtree and the temp dirs are removed.
/// </summary>
public sealed class SystemdInstance : IDisposable
{
    private const string Systemd = "/lib/systemd/systemd";
    private readonly Process boot;
    private readonly string state;

    private SystemdInstance(string state, string work, Process boot)
    {
        this.state = state;
        Work = work;
        this.boot = boot;
    }

    /// <summary>A directory shared with the host, read-write inside.</summary>
    public string Work { get; }

    /// <summary>systemd's pid as the host sees it.</summary>
    public int Pid { get; private set; }

    /// <summary>Why an instance cannot be booted on this machine, or null when it can be tried.</summary>
    public static string? Unsupported()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        if (Environment.UserName != "root") return "not root";
        foreach (var tool in (string[])[Systemd, "/usr/bin/systemctl", "/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/findmnt"])
            if (!File.Exists(tool)) return $"{tool} is not installed";
        if (!Directory.Exists("/etc/systemd/system")) return "/etc/systemd/system does not exist";
        return null;
    }

    /// <summary>Boots systemd and waits until it reports running (at most <paramref name="timeout"/>).</summary>
    public static async Task<SystemdInstance> BootAsync(TimeSpan timeout)
    {
        var state = Directory.CreateTempSubdirectory("tio-sd-state-").FullName;
        var work = Directory.CreateTempSubdirectory("tio-sd-work-").FullName;
        File.WriteAllText(Path.Combine(state, "boot.sh"), BootScript);
        File.WriteAllText(Path.Combine(state, "inner.sh"), InnerScript);
        // What the tests run inside must stay visible below the tmpfs mounts: a checkout (and its binaries) may live
        // under /tmp, as a CI clone does.
        var keep = new List<string> { Repo.Root };
        if (Binaries.Dir is { } bin && !Path.GetFullPath(bin).StartsWith(Repo.Root + "/", StringComparison.Ordinal)) keep.Add(Path.GetFullPath(bin));
        File.WriteAllLines(Path.Combine(state, "keep"), keep);
        var psi = new ProcessStartInfo("/bin/bash") { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var a in (string[])[Path.Combine(state, "boot.sh"), state, work, "tinyo-sd-" + Environment.ProcessId + "-" + Path.GetFileName(state)])
            psi.ArgumentList.Add(a);
        psi.Environment["SD_LOG"] = Path.Combine(state, "systemd.log");
        var p = Process.Start(psi)!;
        var sd = new SystemdInstance(state, work, p);
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            while (sd.Pid == 0)
            {
                if (p.HasExited) throw new InvalidOperationException($"the boot script exited ({p.ExitCode}): {sd.Log()}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"systemd did not start: {sd.Log()}");
                // bash execs unshare, whose only child is the namespace's PID 1 (the inner script, then systemd).
                try
                {
                    if (File.ReadAllText($"/proc/{p.Id}/task/{p.Id}/children").Trim() is { Length: > 0 } c
                        && File.ReadAllText($"/proc/{int.Parse(c.Split(' ')[0])}/comm").Trim() == "systemd")
                        sd.Pid = int.Parse(c.Split(' ')[0]);
                }
                catch (IOException)
                {
                    // a short-lived child of the boot script (findmnt, mkdir...) was listed and is gone: look again
                }
                if (sd.Pid == 0) await Task.Delay(20);
            }
            while (true)
            {
                var r = await sd.RunAsync(["systemctl", "is-system-running"]);
                if (r.Out.Trim() is "running" or "degraded") return sd;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"systemd is '{r.Out.Trim()}' after {timeout.TotalSeconds}s: {r.Err} {sd.Log()}");
                await Task.Delay(50);
            }
        }
        catch
        {
            sd.Dispose();
            throw;
        }
    }

    /// <summary>systemd's own output (its log target is the console, here a file).</summary>
    public string Log() => File.Exists(Path.Combine(state, "systemd.log")) ? File.ReadAllText(Path.Combine(state, "systemd.log")) : "";

    /// <summary>Runs a command inside (mount, pid, UTS and IPC namespaces of the instance).</summary>
    public async Task<(int Code, string Out, string Err)> RunAsync(IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("/usr/bin/nsenter") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-t", Pid.ToString(), "-m", "-p", "-u", "-i", "--"]) psi.ArgumentList.Add(a);
        foreach (var a in command) psi.ArgumentList.Add(a);
        foreach (var k in (string[])["TINYO_HOST", "TINYO_TOKEN", "TINYO_PASSWORD", "TINYO_LISTEN_TCP", "TINYO_SUPERVISOR", "TINYO_ROOT", "TINYO_SOCKET"])
            psi.Environment.Remove(k);
        psi.Environment["SYSTEMD_PAGER"] = "";
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} hung in the systemd instance");
        }
        return (p.ExitCode, await o, await e);
    }

    /// <summary>A file inside the instance's mount namespace (through /proc/PID/root).</summary>
    public string Inside(string path) => $"/proc/{Pid}/root{path}";

    public void Dispose()
    {
        try
        {
            if (Pid > 0 && !boot.HasExited)
            {
                // Ask first: systemd stops its units and exits (a container's poweroff); then make sure.
                try
                {
                    RunAsync(["systemctl", "--force", "exit"], timeout: TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
                }
                catch (Exception)
                {
                    // killed below
                }
                if (!boot.WaitForExit(TimeSpan.FromSeconds(10)) && IsOurSystemd(Pid))
                    Tinyo.Linux.Libc.Kill(Pid, Tinyo.Linux.Libc.SIGKILL);
            }
            if (!boot.HasExited)
            {
                // The boot script itself (bash, or unshare it exec'd) is ours: it started this instance.
                boot.Kill();
            }
            boot.WaitForExit(TimeSpan.FromSeconds(10));
        }
        finally
        {
            boot.Dispose();
            RemoveCgroups();
            try
            {
                Directory.Delete(Work, true);
            }
            catch (IOException)
            {
            }
            try
            {
                Directory.Delete(state, true);
            }
            catch (IOException)
            {
            }
        }
    }

    private bool IsOurSystemd(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").StartsWith(Systemd + "\0--unit=tinyo-test.target", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// Removes the cgroup subtrees the boot script made, deepest first. The namespace's processes were all killed
    /// with its PID 1, but leave their cgroups asynchronously: wait (30 s at most) until none is left, then rmdir with
    /// retries on EBUSY.
    /// </summary>
    private void RemoveCgroups()
    {
        var list = Path.Combine(state, "cgroups");
        if (!File.Exists(list)) return;
        var tops = File.ReadAllLines(list).Where(t => t.Length > 0 && Directory.Exists(t)).ToList();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && tops.Any(t => Populated(t))) Thread.Sleep(100);
        foreach (var top in tops)
        {
            var dirs = Directory.GetDirectories(top, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Count(c => c == '/')).Append(top);
            foreach (var d in dirs)
            {
                for (var i = 0; i < 100; i++)
                {
                    try
                    {
                        Directory.Delete(d);
                        break;
                    }
                    catch (DirectoryNotFoundException)
                    {
                        break;
                    }
                    catch (IOException)
                    {
                        Thread.Sleep(50); // EBUSY: a process is still on its way out
                    }
                }
            }
        }
    }

    private static bool Populated(string top)
    {
        try
        {
            return Directory.GetFiles(top, "cgroup.procs", SearchOption.AllDirectories).Any(f => File.ReadAllText(f).Trim().Length > 0);
        }
        catch (IOException)
        {
            return true;
        }
    }

    // Runs in the test's namespaces: cgroups first (the cgroup namespace is rooted where the process is when it
    // unshares), then unshare execs the inner script as PID 1 of the new namespaces.
    private const string BootScript = """
        set -eu
        state=$1; work=$2; id=$3
        : > "$state/cgroups"; : > "$state/mounts"
        self=$(cat /proc/self/cgroup)
        while read -r target fstype opts; do
          if [ "$fstype" = cgroup2 ]; then key=""; else
            key=$(printf '%s\n' "$opts" | tr ',' '\n' | grep -v -x -E 'rw|ro|relatime|noatime|nosuid|nodev|noexec|clone_children|noprefix|xattr|cpuset_v2_mode|release_agent=.*' | paste -sd, -)
          fi
          path=$(printf '%s\n' "$self" | awk -F: -v k="$key" '$2 == k { sub(/^[^:]*:[^:]*:/, ""); print; exit }')
          d="$target${path%/}/$id"
          echo "$d" >> "$state/cgroups" # listed first: a boot killed right after mkdir still gets it removed
          mkdir "$d"
          if [ -f "$target${path%/}/cpuset.cpus" ] && [ "$fstype" = cgroup ]; then
            cat "$target${path%/}/cpuset.cpus" > "$d/cpuset.cpus"; cat "$target${path%/}/cpuset.mems" > "$d/cpuset.mems"
          fi
          echo $$ > "$d/cgroup.procs"
          echo "$target $fstype ${key:-none}" >> "$state/mounts"
        done <<< "$(findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS)"
        exec unshare --cgroup --pid --mount --uts --ipc --fork --kill-child --propagation private /bin/bash "$state/inner.sh" "$state" "$work" > "$SD_LOG" 2>&1
        """;

    // PID 1 of the new namespaces: the file system view described above, then exec systemd.
    private const string InnerScript = """
        set -eu
        state=$1; work=$2
        mounts=$(cat "$state/mounts") # $state is under the host's /tmp, hidden below
        mapfile -t keep < "$state/keep" # the checkout and binaries the tests run inside (maybe under /tmp too)
        mount -t proc proc /proc
        mount -t tmpfs -o mode=755 tmpfs /mnt # staging: what must survive the tmpfs mounts below
        mkdir /mnt/work; mount --bind "$work" /mnt/work
        for i in "${!keep[@]}"; do mkdir "/mnt/k$i"; mount --rbind "${keep[$i]}" "/mnt/k$i"; done
        for d in /run /tmp /etc/systemd/system /var/lib/systemd /var/log/journal /var/tmp; do
          [ -d "$d" ] && mount -t tmpfs -o mode=755 tmpfs "$d"
        done
        chmod 1777 /tmp /var/tmp
        mkdir -p "$work"
        mount --move /mnt/work "$work"
        for i in "${!keep[@]}"; do mkdir -p "${keep[$i]}"; mount --move "/mnt/k$i" "${keep[$i]}"; done
        umount /mnt
        mount -o remount,bind,ro /
        mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
        mount -o remount,bind,ro /sys
        umount -R -l /sys/fs/cgroup 2>/dev/null || true
        if printf '%s\n' "$mounts" | grep -q '^/sys/fs/cgroup cgroup2 '; then
          mount -t cgroup2 cgroup2 /sys/fs/cgroup
        else
          mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
          while read -r target fstype key; do
            mkdir -p "$target"
            if [ "$fstype" = cgroup2 ]; then mount -t cgroup2 cgroup2 "$target"
            else case "$key" in name=*) mount -t cgroup -o "none,$key" cgroup "$target" ;; *) mount -t cgroup -o "$key" cgroup "$target" ;; esac
            fi
          done <<< "$mounts"
          mount -o remount,bind,ro /sys/fs/cgroup
        fi
        u=/run/tinyo-sd/units; mkdir -p "$u" /run/tinyo-sd/empty
        for t in tinyo-test sysinit basic sockets paths timers slices local-fs remote-fs network network-online multi-user shutdown final umount exit; do
          printf '[Unit]\nDescription=%s (test stand-in)\n' "$t" > "$u/$t.target"
        done
        for f in systemd-journald.service systemd-journald.socket; do ln -s "/lib/systemd/system/$f" "$u/$f"; done
        printf 'Wants=systemd-journald.socket systemd-journald.service\n' >> "$u/tinyo-test.target"
        export SYSTEMD_UNIT_PATH="/etc/systemd/system:$u" SYSTEMD_GENERATOR_PATH=/run/tinyo-sd/empty
        export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/tinyo-sd/empty container=tinyo-test
        exec /lib/systemd/systemd --unit=tinyo-test.target --log-target=console --show-status=no
        """;
}
