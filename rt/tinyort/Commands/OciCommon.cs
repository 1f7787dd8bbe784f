using System.CommandLine;
using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>What the OCI verbs share: the runtime from <c>--root</c>, and one-line errors.</summary>
internal static class OciCommon
{
    /// <summary>A runtime over the root named by <c>--root</c>, <c>TINYO_ROOT</c> or the default.</summary>
    public static ContainerRuntime Runtime(ParseResult r, Option<string?> root, Action<RuntimeOptions>? configure = null) =>
        Runtime(r.GetValue(root), configure);

    /// <summary>A runtime over <paramref name="root"/> (null: <c>TINYO_ROOT</c> or the default).</summary>
    public static ContainerRuntime Runtime(string? root, Action<RuntimeOptions>? configure = null)
    {
        var o = new RuntimeOptions
        {
            Warn = w => Console.Error.WriteLine("tinyort: warning: " + w),
            // A framework-dependent (dotnet) build finds its files next to its path: it cannot run sealed.
            SealInit = !File.Exists(Path.ChangeExtension(Environment.ProcessPath ?? "", ".dll")),
        };
        configure?.Invoke(o);
        return new(RuntimeRoot.Resolve(root), o);
    }

    /// <summary>runc's global <c>--log FILE</c>: errors are appended there as JSON lines too (containerd reads them).</summary>
    public static readonly Option<string?> Log = new("--log") { Description = "Also append errors to this file (JSON lines, as runc)", Recursive = true };
    /// <summary>runc's <c>--log-format</c>; only json is written.</summary>
    public static readonly Option<string?> LogFormat = new("--log-format") { Description = "Accepted for runc compatibility (json)", Recursive = true, Hidden = true };
    /// <summary>runc's <c>--systemd-cgroup</c>: refused, tinyort manages cgroups itself.</summary>
    public static readonly Option<bool> SystemdCgroup = new("--systemd-cgroup") { Description = "Not supported: tinyort manages cgroup directories itself", Recursive = true, Hidden = true };
    /// <summary>runc's <c>--debug</c>; accepted, no effect.</summary>
    public static readonly Option<bool> Debug = new("--debug") { Description = "Accepted for runc compatibility", Recursive = true, Hidden = true };

    /// <summary>Adds the runc global flags that container managers pass (containerd, podman, cri-o).</summary>
    public static void AddRuncGlobals(Command root)
    {
        root.Options.Add(Log);
        root.Options.Add(LogFormat);
        root.Options.Add(SystemdCgroup);
        root.Options.Add(Debug);
    }

    /// <summary>Runs a verb; an <see cref="RtException"/> becomes <c>tinyort: message</c> and exit status 1.</summary>
    public static int Guard(ParseResult r, Func<int> action)
    {
        string? error;
        try
        {
            if (r.GetValue(SystemdCgroup)) throw new RtException("--systemd-cgroup is not supported: tinyort manages cgroups itself");
            return action();
        }
        catch (RtException e) { error = e.Message; }
        catch (IOException e) { error = e.Message; }
        Console.Error.WriteLine("tinyort: " + error);
        AppendLog(r, error);
        return 1;
    }

    /// <summary>Appends <paramref name="error"/> to the <c>--log</c> file, if one was given, as runc's JSON line
    /// (<c>{"level":"error","msg":...,"time":...}</c>): containerd's shim reports the last such line as the error.</summary>
    public static void AppendLog(ParseResult r, string error)
    {
        if (r.GetValue(Log) is { Length: > 0 } log)
        {
            try
            {
                using var f = new FileStream(log, FileMode.Append, FileAccess.Write);
                using var w = new System.Text.Json.Utf8JsonWriter(f);
                w.WriteStartObject();
                w.WriteString("level", "error");
                w.WriteString("msg", error);
                w.WriteString("time", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
                w.WriteEndObject();
                w.Flush();
                f.WriteByte((byte)'\n');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// runc's create/run flags that engines pass and that need no action here: <c>--no-pivot</c> (tinyort always
    /// pivots: its rootfs is a mount it made, never the initramfs), <c>--no-new-keyring</c> (tinyort never creates a
    /// session keyring), <c>--preserve-fds 0</c>. Returned so the verb can check <c>--preserve-fds</c>.
    /// </summary>
    public static Option<int> AddRuncCreateFlags(Command cmd)
    {
        var preserve = new Option<int>("--preserve-fds") { Description = "runc: extra fds to pass (only 0 is supported)", Hidden = true };
        cmd.Options.Add(new Option<bool>("--no-pivot") { Description = "runc: accepted; tinyort always uses pivot_root", Hidden = true });
        cmd.Options.Add(new Option<bool>("--no-new-keyring") { Description = "runc: accepted; tinyort creates no session keyring", Hidden = true });
        cmd.Options.Add(preserve);
        return preserve;
    }

    /// <summary>Refuses <c>--preserve-fds N</c> for N &gt; 0 (not implemented: the fds would need to survive init's close_range).</summary>
    public static void CheckPreserveFds(ParseResult r, Option<int> preserve)
    {
        if (r.GetValue(preserve) is var n && n != 0) throw new RtException($"--preserve-fds {n} is not supported yet (only 0)");
    }

    /// <summary>The container id argument.</summary>
    public static Argument<string> IdArgument() => new("container-id") { Description = "Container id" };
}
