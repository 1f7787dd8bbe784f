using System.Runtime.CompilerServices;

namespace Tinyo.MultiCall;

/// <summary>
/// The four programs of the multi-call binary, each entered through its own project's <c>Program.cs</c> exactly as
/// its own executable would enter it.
/// </summary>
/// <remarks>
/// A Program.cs of top-level statements compiles to <c>Program.&lt;Main&gt;$</c> (Roslyn's name for a top-level
/// entry point) in its own assembly. <see cref="UnsafeAccessorAttribute"/> binds to it when the binary is compiled —
/// no reflection, nothing looked up at run time — so the four Program.cs files stay as they are and each project still
/// publishes alone. A changed signature (a Program.cs that starts or stops awaiting) would bind to nothing and throw
/// <see cref="MissingMethodException"/> on that name's first run: the ctl suite's MultiCallTests run every name.
/// </remarks>
internal static class Programs
{
    /// <summary>The names, in the order <see cref="Usage"/> lists them.</summary>
    public static readonly string[] Names = ["tio", "tinyonode", "tinyokv", "tinyort"];

    /// <summary>What <c>tinyo</c> alone prints.</summary>
    public const string Usage =
        "tinyo — Tinyo's programs in one binary, run by the name it is called as (a hard link or symlink):\n" +
        "  tio        the CLI\n  tinyonode  the node daemon\n  tinyokv    the key-value store\n  tinyort    the container runtime\n" +
        "or `tinyo PROGRAM ARGS…`; `tinyo requirements` lists the libraries the host must provide.\n";

    /// <summary>The program a path names: its file name (argv[0] may be a path or a bare name).</summary>
    public static string NameOf(string argv0)
    {
        int slash = argv0.LastIndexOf('/');
        return slash < 0 ? argv0 : argv0[(slash + 1)..];
    }

    /// <summary>The entry point of the program called <paramref name="name"/>, or null when none is.</summary>
    public static Func<string[], int>? Find(string name) => name switch
    {
        "tio" => args => Tio(null, args),
        "tinyonode" => args => Node(null, args),
        "tinyokv" => args => Kv(null, args).GetAwaiter().GetResult(),
        "tinyort" => args => Rt(null, args).GetAwaiter().GetResult(),
        _ => null,
    };

    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "<Main>$")]
    private static extern int Tio([UnsafeAccessorType("Program, tio")] object? program, string[] args);

    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "<Main>$")]
    private static extern int Node([UnsafeAccessorType("Program, tinyonode")] object? program, string[] args);

    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "<Main>$")]
    private static extern Task<int> Kv([UnsafeAccessorType("Program, tinyokv")] object? program, string[] args);

    [UnsafeAccessor(UnsafeAccessorKind.StaticMethod, Name = "<Main>$")]
    private static extern Task<int> Rt([UnsafeAccessorType("Program, tinyort")] object? program, string[] args);
}
