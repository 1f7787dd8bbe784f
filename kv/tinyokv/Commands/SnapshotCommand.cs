using System.CommandLine;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv snapshot save FILE: writes a snapshot of the store (the same format members keep).</summary>
internal static class SnapshotCommand
{
    public static Command Create()
    {
        var cmd = new Command("snapshot", "Save a snapshot of the store, or restore one into a new data directory");
        var file = new Argument<string>("file") { Description = "Destination file" };
        var save = new Command("save", "Save a snapshot to a file") { file };
        Common.Run(save, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var path = pr.GetValue(file)!;
            var parent = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (!Directory.Exists(parent)) throw new KvException($"directory {parent} does not exist");
            var tmp = path + ".part";
            await using (var fs = File.Create(tmp))
            {
                await client.SnapshotAsync(fs, ct);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            Console.WriteLine($"snapshot saved to {path}");
            return 0;
        });
        cmd.Subcommands.Add(save);

        var source = new Argument<string>("file") { Description = "Snapshot file from 'snapshot save'" };
        var dataDir = new Option<string>("--data-dir") { Description = "New (empty) data directory", Required = true };
        var restore = new Command("restore", "Seed a new data directory from a snapshot; then serve it with --bootstrap") { source, dataDir };
        Common.Run(restore, (pr, ct) =>
        {
            var view = Raft.KvStateMachine.RestoreInto(pr.GetValue(source)!, pr.GetValue(dataDir)!);
            Console.WriteLine($"restored {view.Count} keys at revision {view.Revision} into {pr.GetValue(dataDir)}; start it with 'tinyokv serve --bootstrap'");
            return Task.FromResult(0);
        });
        cmd.Subcommands.Add(restore);
        return cmd;
    }
}
