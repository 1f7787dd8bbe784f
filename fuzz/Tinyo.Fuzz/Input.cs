using System.Text;

namespace Tinyo.Fuzz;

/// <summary>Helpers to turn raw fuzz input into what targets take.</summary>
public static class Input
{
    /// <summary>Reads a whole input stream (afl inputs are small: default max 1 MiB).</summary>
    public static byte[] ReadAll(Stream s)
    {
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Decodes UTF-8 leniently (invalid sequences become U+FFFD, as any text from the wire would).</summary>
    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}

/// <summary>Runs inputs from files once each, outside afl: corpus checks and crash regressions.</summary>
public static class Replay
{
    public static int Run(Target target, ReadOnlySpan<string> paths)
    {
        // FUZZ_VERBOSE=1: print each input's answer (accepted, or our error's message), to check seeds reach deep.
        bool verbose = Environment.GetEnvironmentVariable("FUZZ_VERBOSE") == "1";
        int runs = 0, escapes = 0;
        foreach (var p in paths)
        {
            var files = Directory.Exists(p) ? Directory.GetFiles(p, "*", SearchOption.AllDirectories)
                      : File.Exists(p) ? [p] : [];
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var f in files)
            {
                runs++;
                try
                {
                    var answer = target.Answer(File.ReadAllBytes(f));
                    if (verbose) Console.WriteLine($"{target.Name}: {f}: {answer ?? "accepted"}");
                }
                catch (Exception e)
                {
                    escapes++;
                    Console.Error.WriteLine($"{target.Name}: {f}: {e.GetType().Name}: {e.Message}");
                }
            }
        }
        Console.WriteLine($"{target.Name}: replayed {runs} input(s), {escapes} escaped the oracle");
        return escapes == 0 ? 0 : 1;
    }
}
