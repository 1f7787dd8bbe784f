using System.Diagnostics;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Tests;

/// <summary>The unit files tio ++ writes when systemd is the init system, checked by systemd's own verifier.</summary>
public sealed class SystemdUnitsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tio-units-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void AutoPicksSystemdExactlyWhenItsRunDirExists()
    {
        var booted = Path.Combine(dir, "run-systemd-system");
        Assert.Equal(ServiceMode.Process, ServiceModes.Resolve("auto", booted));
        Assert.Equal(ServiceMode.Process, ServiceModes.Resolve(null, booted));
        Directory.CreateDirectory(booted);
        Assert.Equal(ServiceMode.Systemd, ServiceModes.Resolve("auto", booted));
        Assert.Equal(ServiceMode.Systemd, ServiceModes.Resolve("", booted));
        // The override wins either way.
        Assert.Equal(ServiceMode.Process, ServiceModes.Resolve("process", booted));
        Assert.Equal(ServiceMode.Systemd, ServiceModes.Resolve("systemd", Path.Combine(dir, "missing")));
        Assert.Null(ServiceModes.Resolve("upstart", booted));
        Assert.Equal("/run/systemd/system", ServiceModes.SystemdRunDir);
    }

    [Fact]
    public void UnitNamesAreStablePerRootAndPlainForTheDefaultRoot()
    {
        Assert.Equal("tinyonode.service", new SystemdUnits(new NodeLayout(NodeLayout.DefaultRoot)).UnitName("tinyonode"));
        var a = new SystemdUnits(new NodeLayout("/srv/a")).UnitName("tinyokv");
        Assert.Matches("^tinyokv-[0-9a-f]{8}\\.service$", a);
        Assert.Equal(a, new SystemdUnits(new NodeLayout("/srv/a")).UnitName("tinyokv"));
        Assert.NotEqual(a, new SystemdUnits(new NodeLayout("/srv/b")).UnitName("tinyokv"));
    }

    [Fact]
    public void UnitsPassSystemdAnalyzeVerify()
    {
        // A root and binary directory with a space, '%' and '$': specifiers and quoting must survive the round trip,
        // and verify fails when the ExecStart executable it resolves does not exist.
        var bin = Path.Combine(dir, "bin 100%$HOME");
        Directory.CreateDirectory(bin);
        foreach (var c in (string[])["tinyokv", "tinyonode"])
        {
            File.WriteAllText(Path.Combine(bin, c), "#!/bin/sh\n");
            if (OperatingSystem.IsLinux()) File.SetUnixFileMode(Path.Combine(bin, c), (UnixFileMode)0x1ed); // 0755
        }
        var root = Path.Combine(dir, "root 5% $USER");
        var units = new SystemdUnits(new NodeLayout(root), Path.Combine(dir, "units"));
        var (kv, node) = Specs(units, bin, root);
        Assert.True(units.Write(kv));
        Assert.True(units.Write(node));

        var (code, output) = Verify(units.UnitPath("tinyokv"), units.UnitPath("tinyonode"));
        Assert.True(code == 0, $"systemd-analyze verify: exit {code}: {output}\n{File.ReadAllText(units.UnitPath("tinyonode"))}");

        var text = File.ReadAllText(units.UnitPath("tinyonode"));
        Assert.StartsWith(units.Marker + "\n", text);
        Assert.Contains("KillMode=process\n", text);
        Assert.Contains("Restart=on-failure\n", text);
        Assert.Contains($"Wants={units.UnitName("tinyokv")}\n", text);
        Assert.Contains("WantedBy=multi-user.target\n", text);
        Assert.Contains("Environment=\"TINYO_OFFLINE=1\"\n", text);
        Assert.Contains("\"" + root.Replace("%", "%%").Replace("$", "$$") + "\"", text);
        Assert.DoesNotContain("KillMode", File.ReadAllText(units.UnitPath("tinyokv")));

        // A unit whose executable is missing is refused by the verifier: the check above can fail.
        File.Delete(Path.Combine(bin, "tinyokv"));
        Assert.NotEqual(0, Verify(units.UnitPath("tinyokv")).Code);
    }

    [Fact]
    public void WritingIsIdempotentAndNeverTouchesAForeignUnit()
    {
        var units = new SystemdUnits(new NodeLayout(Path.Combine(dir, "root")), Path.Combine(dir, "units"));
        var (kv, _) = Specs(units, "/usr/bin", Path.Combine(dir, "root"));
        Assert.False(units.Installed("tinyokv"));
        Assert.True(units.Write(kv));
        Assert.True(units.Installed("tinyokv"));
        Assert.False(units.Write(kv));
        Assert.True(units.Write(kv with { Command = [.. kv.Command, "--extra"] }));

        // Another node's (or the admin's) unit of the same name is neither rewritten nor removed.
        File.WriteAllText(units.UnitPath("tinyokv"), "[Service]\nExecStart=/bin/true\n");
        Assert.False(units.Installed("tinyokv"));
        Assert.Contains("was not written by tio", Assert.Throws<CtlException>(() => units.Write(kv)).Message);
        Assert.False(units.Remove("tinyokv"));
        Assert.True(File.Exists(units.UnitPath("tinyokv")));
    }

    [Fact]
    public void ControlCharactersAreRefusedNotWritten()
    {
        var root = Path.Combine(dir, "bad\nroot");
        var units = new SystemdUnits(new NodeLayout(root), Path.Combine(dir, "units"));
        var (kv, _) = Specs(units, "/usr/bin", root);
        Assert.Contains("control character", Assert.Throws<CtlException>(() => units.Write(kv)).Message);
        Assert.False(Directory.Exists(Path.Combine(dir, "units")) && Directory.EnumerateFiles(Path.Combine(dir, "units")).Any());
    }

    private static (UnitSpec Kv, UnitSpec Node) Specs(SystemdUnits units, string bin, string root)
    {
        var env = new Dictionary<string, string> { ["TINYO_OFFLINE"] = "1" };
        var kv = new UnitSpec("tinyokv", [Path.Combine(bin, "tinyokv"), "serve", "--data-dir", Path.Combine(root, "kv"),
            "--token-file", Path.Combine(root, "kv.token"), "--listen-client", "127.0.0.1:2379", "--bootstrap"], env, [], false);
        var node = new UnitSpec("tinyonode", [Path.Combine(bin, "tinyonode"), "serve", "--root", root, "--kv-endpoints",
            "127.0.0.1:2379"], env, [units.UnitName("tinyokv")], true);
        return (kv, node);
    }

    private static (int Code, string Output) Verify(params string[] files)
    {
        var psi = new ProcessStartInfo("systemd-analyze") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["verify", "--man=no", .. files]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }
}
