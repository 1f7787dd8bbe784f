using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio restore FILE: brings a cluster back from <c>tio backup</c>'s file on this host. Everything is checked before
/// anything changes: the host must have no cluster (no KV data, node key or daemons under the root) unless --force;
/// <c>tinyonode restore</c> reads the whole file once (passphrase, every chunk's tag, the records) before it
/// extracts it into ROOT/restore.staging; <c>tinyokv snapshot restore</c> seeds a new data directory from the KV
/// snapshot. Only then is the old state (with --force: stopped and moved aside, never deleted) replaced, the node
/// key and the cluster's CA put in place, and the node started as <c>tio ++</c> starts it; it reconciles the apps
/// from the restored KV (images pulled again, secrets opened with the restored key).
/// </summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The backup file (from tio backup)" };
        var passFile = new Option<string?>("--passphrase-file") { Description = "Read the passphrase from this file's first line (else prompted, or stdin's first line)" };
        var force = new Option<bool>("--force") { Description = "Replace the cluster this host already has (its daemons are stopped, its state moved aside under the root)" };
        var user = new Option<string?>("-u", "--user") { Description = "The user to log in as once restored (default: the admin who made the backup)" };
        var pass = new Option<string?>("-p", "--password") { Description = "That user's password (else TINYO_PASSWORD or stdin)" };
        var cmd = new Command("restore", "Restore a cluster from a backup file on this host and start its node; refused where a cluster exists, unless --force")
        {
            file, passFile, force, user, pass,
        };
        Common.Run(cmd, async (pr, ct) =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
            var path = Path.GetFullPath(pr.GetValue(file)!);
            if (!File.Exists(path)) throw new UsageException($"{path}: no such file");
            var layout = Common.Layout(pr);
            var daemons = Common.Daemons(layout);
            var nodeKey = Path.Combine(layout.Root, "node.key");
            var existing = Existing(layout, daemons, nodeKey);
            if (existing is not null && !pr.GetValue(force))
            {
                Console.Error.WriteLine($"tio: this host already has a cluster in {layout.Root} ({existing}): nothing changed; `tio restore --force` replaces it (its state is moved aside, not deleted)");
                return Exit.Conflict;
            }
            var passphrase = Passphrase.Read(pr.GetValue(passFile), confirm: false);

            // 1. The node checks the whole file, then extracts it (nothing under the root before the check passed).
            var rootExisted = Directory.Exists(layout.Root);
            var stage = Path.Combine(layout.Root, "restore.staging");
            if (Directory.Exists(stage)) Directory.Delete(stage, recursive: true); // a crashed earlier restore's
            var (code, output, error) = await RunAsync(Supervisor.Locate("tinyonode", "TINYO_NODE_BIN"), ["restore", path, "--stage", stage], passphrase + "\n", ct);
            if (code != 0)
            {
                Console.Error.WriteLine($"tio: {path}: {Strip(error, "tinyonode: ")} — nothing changed");
                RemoveIfMade(layout.Root, rootExisted);
                return code == 65 ? Exit.InvalidInput : Exit.Error;
            }
            Console.Write(output);
            try
            {
                // 2. The KV's data directory, seeded from the snapshot beside the current one (which stays until step 3).
                var kvNew = layout.KvData + ".restore";
                if (Directory.Exists(kvNew)) Directory.Delete(kvNew, recursive: true);
                var kv = await RunAsync(Supervisor.Locate("tinyokv", "TINYO_KV_BIN"), ["snapshot", "restore", Path.Combine(stage, "kv.snap"), "--data-dir", kvNew], null, ct);
                if (kv.Code != 0)
                {
                    if (Directory.Exists(kvNew)) Directory.Delete(kvNew, recursive: true);
                    throw new CtlException($"the backup's KV snapshot was refused: {Strip(kv.Err, "tinyokv: ")} — nothing changed");
                }
                using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(stage, "manifest.json")));
                var net = manifest.RootElement.GetProperty("net").GetString() ?? throw new CtlException("the backup names no net (the cluster was never initialised)");
                var admin = manifest.RootElement.GetProperty("admin").GetString();

                // 3. Replace: the old cluster stopped and moved aside (--force), the restored state moved in.
                if (existing is not null)
                {
                    foreach (var c in (string[])["tinyonode", "tinyokv"])
                        foreach (var s in daemons.Stop(c, TimeSpan.FromSeconds(10)))
                            Console.WriteLine($"{c,-9} stopped ({s.Daemon})");
                    var aside = Path.Combine(layout.Root, $"before-restore-{DateTime.UtcNow:yyyyMMddHHmmss}");
                    Directory.CreateDirectory(aside, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    foreach (var (from, name) in new[] { (layout.KvData, "kv"), (nodeKey, "node.key"), (Path.Combine(layout.Root, "pki"), "pki"), (layout.KvToken, "kv.token") })
                    {
                        if (Directory.Exists(from)) Directory.Move(from, Path.Combine(aside, name));
                        else if (File.Exists(from)) File.Move(from, Path.Combine(aside, name));
                    }
                    Console.WriteLine($"replaced  the previous state is in {aside}");
                }
                Directory.Move(kvNew, layout.KvData);
                var files = Path.Combine(stage, "files");
                if (Directory.Exists(files))
                {
                    foreach (var f in Directory.EnumerateFiles(files, "*", SearchOption.AllDirectories))
                    {
                        var dest = Path.Combine(layout.Root, Path.GetRelativePath(files, f));
                        Directory.CreateDirectory(Path.GetDirectoryName(dest)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                        File.Move(f, dest, overwrite: true);
                    }
                }
                Console.WriteLine($"restored  {layout.Root}: KV data, node key{(Directory.Exists(Path.Combine(files, "pki")) ? ", cluster CA and certificate" : "")}");

                // 4. Start the node as `tio ++` does (the init it asks for finds the restored net) and log in.
                var login = pr.GetValue(user) ?? admin ?? throw new UsageException("the backup names no admin: pass -u USER");
                var password = Common.Password(pr.GetValue(pass));
                var root = new RootCommand { InitCommand.Create() };
                root.Options.Add(Common.Host);
                root.Options.Add(Common.Socket);
                root.Options.Add(Common.Root);
                var started = await root.Parse(["++", "-net", net, "-u", login, "-p", password, "--root", layout.Root, "--socket", Common.SocketPath(pr)])
                    .InvokeAsync(null, ct);
                if (started != Exit.Ok) return started;
                Console.WriteLine("restored  the node reconciles the apps from the restored state (`tio ls`)");
                return Exit.Ok;
            }
            finally
            {
                if (Directory.Exists(stage)) Directory.Delete(stage, recursive: true);
                RemoveIfMade(layout.Root, rootExisted);
            }
        });
        return cmd;
    }

    /// <summary>Why this host has a cluster (null: it has none).</summary>
    private static string? Existing(NodeLayout layout, NodeDaemons daemons, string nodeKey)
    {
        if (daemons.Find("tinyonode") is { } n) return $"tinyonode is running: {n}";
        if (daemons.Find("tinyokv") is { } k) return $"tinyokv is running: {k}";
        if (Directory.Exists(layout.KvData)) return $"KV data in {layout.KvData}";
        if (File.Exists(nodeKey)) return $"a node key in {nodeKey}";
        return null;
    }

    /// <summary>The root this restore made, when it stayed empty (a refused file leaves the host as it was).</summary>
    private static void RemoveIfMade(string root, bool existed)
    {
        if (!existed && Directory.Exists(root) && !Directory.EnumerateFileSystemEntries(root).Any()) Directory.Delete(root);
    }

    private static string Strip(string s, string prefix)
    {
        s = s.Trim();
        return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
    }

    /// <summary>Runs a Tinyo binary, with <paramref name="stdin"/> as its input; returns its exit code and output.</summary>
    private static async Task<(int Code, string Out, string Err)> RunAsync(List<string> command, string[] args, string? stdin, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new CtlException($"cannot start {command[0]}");
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync(ct);
        var e = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await o, await e);
    }
}
