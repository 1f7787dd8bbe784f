using System.CommandLine;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio down (--): stops tinyonode, then tinyokv — detached processes by their pid files (only if the pid is really
/// ours), systemd units through systemctl (then disabled) — and with --remove-units deletes this root's unit files.
/// </summary>
internal static class DownCommand
{
    public static Command Create()
    {
        var grace = new Option<double>("--grace") { Description = "Seconds to wait after SIGTERM before SIGKILL", DefaultValueFactory = _ => 10 };
        var removeUnits = new Option<bool>("--remove-units") { Description = "Also delete this node's systemd unit files (the state under the root is kept)" };
        var noDrain = new Option<bool>("--no-drain") { Description = "Stop at once, without first moving this node's replicas to the other nodes (it stays a KV member: a restart)" };
        var cmd = new Command("down", "Drain this node (its replicas move to other ready nodes), then stop its daemons (tinyonode, tinyokv; a node of a mesh also leaves the KV group); state is kept") { grace, removeUnits, noDrain };
        cmd.Aliases.Add("--");
        Common.Run(cmd, async (pr, ct) =>
        {
            var self = pr.GetValue(noDrain) ? null : await DrainAsync(pr, ct);
            var layout = Common.Layout(pr);
            var daemons = Common.Daemons(layout);
            var any = false;
            foreach (var c in (string[])["tinyonode", "tinyokv"])
            {
                // A drained node of a mesh leaves the KV group once its node has stopped (which still needed the KV).
                if (c == "tinyokv" && self is not null) await LeaveKvAsync(layout, daemons, self, ct);
                foreach (var s in daemons.Stop(c, TimeSpan.FromSeconds(pr.GetValue(grace))))
                {
                    any = true;
                    Console.WriteLine($"{c,-9} stopped ({s.Daemon}{(s.Killed ? ", killed after the grace period" : "")})");
                    if (c == "tinyonode" && s.Killed) CleanNetworks(layout.Root, s.Daemon.Pid);
                }
            }
            if (!any) Console.WriteLine($"nothing running for {layout.Root}");
            if (pr.GetValue(removeUnits))
            {
                var removed = daemons.RemoveUnits();
                Console.WriteLine(removed.Count > 0
                    ? $"removed   {string.Join(", ", removed)} from {daemons.Units.UnitDir}"
                    : $"no systemd units for {layout.Root} in {daemons.Units.UnitDir}");
            }
            return Exit.Ok;
        });
        return cmd;
    }

    /// <summary>
    /// A node killed before its own clean-up finished leaves its cluster networks (bridges, namespaces, its nft
    /// table): `tinyonode clean` removes them, and waits for the kernel to free the killed process's pooled namespaces.
    /// </summary>
    private static void CleanNetworks(string root, int pid)
    {
        try
        {
            var cmd = Tinyo.Ctl.Setup.Supervisor.Locate("tinyonode", "TINYO_NODE_BIN");
            var psi = new System.Diagnostics.ProcessStartInfo(cmd[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in cmd.Skip(1).Concat(["clean", "--root", root, "--killed-pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                psi.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            foreach (var line in p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine($"          {line}");
            if (!p.WaitForExit(30_000)) p.Kill();
            if (err.Result.Trim() is { Length: > 0 } e) Console.Error.WriteLine($"tio down: {e}");
        }
        catch (Exception e) when (e is Tinyo.Ctl.CtlException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Console.Error.WriteLine($"tio down: the killed node's networks are left to its next start ({e.Message})");
        }
    }

    /// <summary>
    /// Before a node of a cluster stops: drain it, so its replicas run on the other ready nodes first (issue 14).
    /// Returns this node's name when it is one of several (then it also leaves the KV group); null for a single node,
    /// or when the node does not answer (then it stops as before).
    /// </summary>
    private static async Task<string?> DrainAsync(System.CommandLine.ParseResult pr, CancellationToken ct)
    {
        Tinyo.Ctl.Client.NodeClient client;
        string self;
        try
        {
            client = Common.Client(pr, TimeSpan.FromSeconds(150));
            self = (await client.StatusAsync(ct)).Node;
            if (!(await client.NodesAsync(ct)).Exists(n => n.Name != self && n.State == "ready")) return null;
        }
        catch (Exception e) when (e is Tinyo.Ctl.CtlException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
        {
            return null; // not running, not logged in, or no cluster: stopped as before
        }
        try
        {
            var r = await client.NodeDrainAsync(self, ct);
            Console.WriteLine($"{self}: drained in {r.Milliseconds} ms ({r.Moved} replica(s) moved)");
            foreach (var p in r.Pending) Console.WriteLine($"pending {p}");
        }
        catch (Exception e) when (e is Tinyo.Ctl.CtlException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
        {
            Console.Error.WriteLine($"tio down: not drained ({e.Message}); stopping anyway");
        }
        return self;
    }

    /// <summary>
    /// Takes this node's tinyokv out of the KV group (<see cref="KvMembership"/>), so the nodes that stay keep their
    /// majority. Nothing to do for the last voter; a failure is said, and the node stops anyway.
    /// </summary>
    private static async Task LeaveKvAsync(NodeLayout layout, NodeDaemons daemons, string self, CancellationToken ct)
    {
        var kv = new KvMembership(layout);
        if (!kv.Clustered || daemons.Find("tinyokv") is not { Pid: > 0 } running || KvMembership.ClientAddress(running.Pid) is not { } endpoint) return;
        try
        {
            if (await kv.LeaveAsync(endpoint, self, ct) is { } what) Console.WriteLine($"tinyokv   {what}");
        }
        catch (Tinyo.Ctl.CtlException e)
        {
            Console.Error.WriteLine($"tio down: the KV member stays in the group ({e.Message}); stopping anyway");
        }
    }
}
