using Tinyo.Rt.Cgroups;

namespace Tinyo.Rt.Containers;

/// <summary>Settings of a <see cref="ContainerRuntime"/>.</summary>
public sealed class RuntimeOptions
{
    /// <summary>
    /// How to start the runtime binary as a container's init: the executable and any leading arguments before the
    /// hidden <c>init</c> verb. Default: this process's own executable (the NativeAOT <c>tinyort</c>). Tests running
    /// under <c>dotnet</c> point it at a built <c>tinyort</c>.
    /// </summary>
    public string[]? InitCommand { get; set; }
    /// <summary>
    /// Exec init through a read-only sealed view of its binary (CVE-2019-5736 defence, see SealedExecutable). Default
    /// true; only an init that must find files next to itself (a framework-dependent test build) turns it off.
    /// </summary>
    public bool SealInit { get; set; } = true;
    /// <summary>
    /// The cap of a detached image container's log file, and of its one rotated file (<c>container.log.1</c>): the
    /// log relay (<see cref="Processes.LogRelay"/>) holds both to it exactly. Default 10 MiB.
    /// </summary>
    public long LogMaxBytes { get; set; } = Processes.LogRelay.DefaultMaxBytes;
    /// <summary>File descriptors given to the container as its stdin, stdout and stderr.</summary>
    public int Stdin { get; set; }
    /// <summary>See <see cref="Stdin"/>.</summary>
    public int Stdout { get; set; } = 1;
    /// <summary>See <see cref="Stdin"/>.</summary>
    public int Stderr { get; set; } = 2;
    /// <summary>Receives warnings (spec features recognised but not enforced).</summary>
    public Action<string>? Warn { get; set; }
    /// <summary>The host's cgroup layout (default: detected).</summary>
    public CgroupHost? Cgroups { get; set; }
    /// <summary>
    /// Start containers without exec'ing <c>tinyort init</c> into them when the spec allows (see
    /// <c>Processes/DirectStart</c>): the clone child builds the container from a syscall script prepared here and
    /// execs the process itself. Default true; false (or TINYO_INIT=1 in the environment) always takes the init path.
    /// </summary>
    public bool DirectStart { get; set; } = Environment.GetEnvironmentVariable("TINYO_INIT") != "1";
    /// <summary>runc's <c>--console-socket</c>: where the pty master of a <c>process.terminal</c> container is sent.</summary>
    public string? ConsoleSocket { get; set; }
    /// <summary>Receives the pty master of a <c>process.terminal</c> container when there is no console socket
    /// (foreground <c>run -t</c>); the callee owns the descriptor.</summary>
    public Action<int>? OnTerminal { get; set; }

    /// <summary>
    /// A copy of these options with other stdio descriptors: the one way options are copied, so a setting added
    /// later (as <see cref="DirectStart"/> once was) cannot be dropped by a field-by-field copy.
    /// </summary>
    public RuntimeOptions WithStdio(int stdin, int stdout, int stderr)
    {
        var c = (RuntimeOptions)MemberwiseClone();
        c.Stdin = stdin;
        c.Stdout = stdout;
        c.Stderr = stderr;
        return c;
    }
}
