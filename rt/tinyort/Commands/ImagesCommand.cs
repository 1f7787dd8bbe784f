using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort images</c>: list the stored images.</summary>
internal static class ImagesCommand
{
    public static Command Create()
    {
        var output = Cli.Output();
        var cmd = new Command("images", "List stored images") { output };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var store = new ImageStore(Cli.ResolveRoot(pr));
            var list = new List<ImageListEntry>();
            foreach (var rec in store.ListImages())
            {
                var r = ImageReference.Parse(rec.Name);
                string? created = null;
                try
                {
                    created = store.Load(rec).Config.Created;
                }
                catch (RtException)
                {
                    // A damaged image is still listed; inspect reports what is wrong.
                }
                list.Add(new ImageListEntry
                {
                    Name = rec.Name, Repository = r.Name, Tag = r.Tag, Digest = rec.Digest, Id = rec.Config,
                    Created = created, Size = rec.Size,
                });
            }
            if (pr.GetValue(output) == "json")
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(list, ImageJson.Default.ListImageListEntry));
                return Task.FromResult(0);
            }
            var w = Console.Out;
            var repoWidth = Math.Max(10, list.Count == 0 ? 0 : list.Max(e => e.Repository.Length));
            w.WriteLine($"{"REPOSITORY".PadRight(repoWidth)}  {"TAG",-16}  {"DIGEST",-12}  {"IMAGE ID",-12}  {"CREATED",-20}  SIZE");
            foreach (var e in list)
            {
                w.WriteLine($"{e.Repository.PadRight(repoWidth)}  {e.Tag ?? "<none>",-16}  {Short(e.Digest),-12}  {Short(e.Id),-12}  {Created(e.Created),-20}  {Cli.Size(e.Size)}");
            }
            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static string Short(string digest) => digest.Length == 71 ? digest[7..19] : digest;

    private static string Created(string? rfc3339)
        => DateTimeOffset.TryParse(rfc3339, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "-";
}
