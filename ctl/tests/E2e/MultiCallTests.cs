using System.Diagnostics;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// The multi-call binary (tinyo/): `make` installs one NativeAOT file as tinyo and four hard links named after the
/// programs, and each name runs its own program's entry point. Every other e2e test runs the programs through those
/// links; these check the layout and the dispatch itself, including the forms no script uses (`tinyo PROGRAM`, an
/// unknown name).
/// </summary>
public class MultiCallTests
{
    private static readonly string[] Names = ["tio", "tinyonode", "tinyokv", "tinyort"];

    private static string BinDir()
    {
        Skip.If(Binaries.Dir is null, "the multi-call binary is NativeAOT only: set TINYO_BIN to make's out/bin");
        Skip.If(!File.Exists(Path.Combine(Binaries.Dir!, "tinyo")), $"{Binaries.Dir} has no tinyo (separately published binaries: make separate)");
        return Binaries.Dir!;
    }

    private static (int Code, string Out, string Err) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            throw new TimeoutException($"{file} {string.Join(' ', args)} hung");
        }
        return (p.ExitCode, o.Result, e.Result);
    }

    [SkippableFact]
    public void The_four_names_are_hard_links_of_one_file()
    {
        var dir = BinDir();
        var inode = Inode(Path.Combine(dir, "tinyo"));
        foreach (var n in Names)
            Assert.True(Inode(Path.Combine(dir, n)) == inode, $"{n} is not a hard link of tinyo (make links them)");
    }

    [SkippableFact]
    public void Each_name_runs_its_own_program()
    {
        var dir = BinDir();
        // Each program's root help opens with its own description (its Program.cs's RootCommand).
        (string Name, string Says)[] expected =
        [
            ("tio", "tio — the Tinyo CLI"),
            ("tinyonode", "tinyonode — the Tinyo node daemon"),
            ("tinyokv", "tinyokv — Tinyo's Raft-replicated key-value store"),
            ("tinyort", "tinyort — the Tinyo container runtime"),
        ];
        foreach (var (name, says) in expected)
        {
            var r = Run(Path.Combine(dir, name), "--help");
            Assert.True(r.Code == 0, $"{name} --help: exit {r.Code} {r.Err}");
            Assert.Contains(says, r.Out);
            foreach (var (other, otherSays) in expected)
                if (other != name) Assert.DoesNotContain(otherSays, r.Out);
            // And by name through the binary itself: `tinyo NAME ARGS`.
            var named = Run(Path.Combine(dir, "tinyo"), name, "--help");
            Assert.True(named.Code == 0 && named.Out.Contains(says), $"tinyo {name} --help: exit {named.Code} {named.Out}{named.Err}");
        }
        var version = Run(Path.Combine(dir, "tinyort"), "--version");
        Assert.Equal(0, version.Code);
        Assert.StartsWith("0.", version.Out);
    }

    [SkippableFact]
    public void Alone_it_lists_the_programs_and_any_other_word_is_the_runtimes()
    {
        var dir = BinDir();
        var alone = Run(Path.Combine(dir, "tinyo"));
        Assert.Equal(2, alone.Code);
        foreach (var n in Names) Assert.Contains(n, alone.Out);
        // The runtime's own re-executions (its init, exit monitor, sealed exec) start the binary by its file's name:
        // a word that is no program's name is the runtime's verb, and an unknown one is the runtime's usage error.
        var verb = Run(Path.Combine(dir, "tinyo"), "no-such-verb");
        Assert.NotEqual(0, verb.Code);
        Assert.Contains("no-such-verb", verb.Err + verb.Out);
        Assert.Contains("tinyort", verb.Err + verb.Out);
    }

    /// <summary>The file's device and inode number ("DEV:INO"): equal for hard links of one file.</summary>
    private static string Inode(string path)
    {
        var r = Run("stat", "-c", "%d:%i", path);
        Assert.True(r.Code == 0, $"stat {path}: {r.Err}");
        return r.Out.Trim();
    }
}
