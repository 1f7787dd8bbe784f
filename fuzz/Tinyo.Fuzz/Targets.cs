using Tinyo.Rt;
using Tinyo.Rt.Images;

namespace Tinyo.Fuzz;

/// <summary>A fuzz target: a parser or boundary fed with arbitrary bytes.</summary>
/// <param name="Name">Name used on the command line and as the corpus folder (fuzz/corpus/NAME).</param>
/// <param name="Body">Feeds one input to the code under test. It may throw only the project's own error types.</param>
public sealed record Target(string Name, Action<byte[]> Body)
{
    /// <summary>Runs one input; the project's own errors are expected answers to bad input, anything else escapes.</summary>
    public void Run(byte[] input)
    {
        try { Body(input); }
        catch (RtException) { }
    }
}

/// <summary>Every harness. Add one whenever a parser or boundary lands.</summary>
public static class Targets
{
    public static readonly Target[] All =
    [
        new("digest", static b =>
        {
            var text = Input.Utf8(b);
            if (Digest.TryParse(text, out var d) && Digest.Parse(d.ToString()) != d)
                throw new InvalidOperationException("digest does not round-trip");
            Digest.Parse(text);
        }),
    ];

    public static bool TryFind(string name, out Target target)
    {
        foreach (var t in All)
            if (t.Name == name) { target = t; return true; }
        target = null!;
        return false;
    }

    public static Target Find(string name) =>
        TryFind(name, out var t) ? t : throw new ArgumentException($"unknown fuzz target '{name}' (see: list)");
}
