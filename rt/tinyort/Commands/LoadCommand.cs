using System.CommandLine;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort load PATH</c>: import an OCI image layout (dir or tar) or a docker save tarball.</summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("PATH") { Description = "OCI image layout directory, OCI archive, or docker save tarball" };
        var name = new Option<string?>("--name") { Description = "Repository for images the input names only by tag (default localhost/BASENAME)" };
        var cmd = new Command("load", "Import images from an OCI layout or a docker save tarball") { path, name };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var repo = pr.GetValue(name);
            if (repo is not null) ImageReference.Parse(repo); // validate early, clear message
            var loaded = await new ImageLoader(new ImageStore(Cli.ResolveRoot(pr))).LoadAsync(pr.GetValue(path)!, repo, ct).ConfigureAwait(false);
            foreach (var r in loaded) Console.Out.WriteLine($"Loaded: {r.Name} {r.Digest}");
            return 0;
        }));
        return cmd;
    }
}
