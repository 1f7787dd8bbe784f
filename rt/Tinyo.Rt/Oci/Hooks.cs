using System.Text.Json;

namespace Tinyo.Rt.Oci;

/// <summary>
/// Runs OCI lifecycle hooks (runtime-spec config.md, "POSIX-platform Hooks"). Each hook is executed with its
/// <c>path</c>, exactly its <c>args</c> as argv (args[0] included) and exactly its <c>env</c>, the container's state
/// JSON on stdin, and is killed after <c>timeout</c> seconds (see <see cref="HookProcess"/>).
/// </summary>
/// <remarks>
/// <para>Where each kind runs in tinyort:</para>
/// <list type="bullet">
/// <item><c>prestart</c> (deprecated) and <c>createRuntime</c>: by the parent (the runtime namespace), while init is
/// paused after the mounts and before pivot_root; state status <c>creating</c>, with the container's host pid.</item>
/// <item><c>createContainer</c>: by init, in the container's namespaces, also before pivot_root (the path resolves in
/// the container's mount namespace, which still shows the host's tree).</item>
/// <item><c>startContainer</c>: by init after <c>start</c>, right before the process is exec'd, inside the
/// container (after pivot_root, as the process's user).</item>
/// <item><c>poststart</c>: by <c>start</c> (or <c>run</c>) on the host once the process runs.</item>
/// <item><c>poststop</c>: by <c>delete</c> (or <c>run</c>) on the host once the container is gone.</item>
/// </list>
/// <para>A failing prestart, createRuntime, createContainer or startContainer hook fails the operation and stops the
/// container; a failing poststart or poststop hook is a warning. A failure's message carries the hook's output
/// (stdout and stderr share one pipe).</para>
/// </remarks>
public static class Hooks
{
    /// <summary>Whether <paramref name="l"/> has any hook.</summary>
    public static bool Any(List<SpecHook>? l) => l is { Count: > 0 };

    /// <summary>
    /// Runs <paramref name="hooks"/> in order with <paramref name="state"/> on stdin. A failure throws when
    /// <paramref name="warn"/> is null, otherwise it is reported there and the next hook runs.
    /// </summary>
    public static void Run(string kind, List<SpecHook>? hooks, string state, Action<string>? warn = null)
    {
        if (hooks is null) return;
        foreach (var h in hooks)
        {
            var failure = RunOne(kind, h, state);
            if (failure is null) continue;
            if (warn is null) throw new RtException(failure);
            warn(failure);
        }
    }

    /// <summary>Validates hook entries (absolute paths, sane timeouts) so a bad spec fails before anything exists.</summary>
    public static void Validate(SpecHooks? h, string where)
    {
        if (h is null) return;
        foreach (var (kind, l) in All(h))
            foreach (var hook in l ?? [])
            {
                if (string.IsNullOrEmpty(hook.Path) || !hook.Path.StartsWith('/')) throw new RtException($"{where}: hooks.{kind}: path \"{hook.Path}\" is not absolute");
                if (hook.Path.Contains('\0') || hook.Args?.Exists(a => a.Contains('\0')) == true || hook.Env?.Exists(e => e.Contains('\0')) == true)
                    throw new RtException($"{where}: hooks.{kind}: NUL byte in {hook.Path}");
                if (hook.Timeout is <= 0) throw new RtException($"{where}: hooks.{kind}: timeout of {hook.Path} must be positive");
            }
    }

    private static IEnumerable<(string, List<SpecHook>?)> All(SpecHooks h) =>
    [
        ("prestart", h.Prestart), ("createRuntime", h.CreateRuntime), ("createContainer", h.CreateContainer),
        ("startContainer", h.StartContainer), ("poststart", h.Poststart), ("poststop", h.Poststop),
    ];

    /// <summary>The state JSON a hook receives.</summary>
    public static string State(string id, int pid, string status, string bundle, Dictionary<string, string>? annotations)
    {
        var s = new OciState { Id = id, Pid = pid, Status = status, Bundle = bundle, Annotations = annotations is { Count: > 0 } ? annotations : null };
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            // Exactly the members the spec's state has (no runc extras): ociVersion, id, status, pid, bundle, annotations.
            w.WriteStartObject();
            w.WriteString("ociVersion", s.OciVersion);
            w.WriteString("id", s.Id);
            w.WriteString("status", s.Status);
            if (pid > 0) w.WriteNumber("pid", pid);
            w.WriteString("bundle", s.Bundle);
            if (s.Annotations is { } a)
            {
                w.WriteStartObject("annotations");
                foreach (var (k, v) in a) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string? RunOne(string kind, SpecHook h, string state)
    {
        int ms = h.Timeout is { } t ? checked(t * 1000) : -1;
        var r = HookProcess.Run(h.Path, h.Args, h.Env, state, ms, out var startError);
        if (startError is not null) return $"{kind} hook {h.Path}: {startError}";
        if (r.TimedOut) return $"{kind} hook {h.Path} timed out after {h.Timeout} s";
        if (r.Code == 0 && r.Signal == 0) return null;
        var msg = r.Output.Trim();
        if (msg.Length > 512) msg = msg[..512];
        var how = r.Signal != 0 ? $"was killed by signal {r.Signal}" : $"exited with status {r.Code}";
        return $"{kind} hook {h.Path} {how}" + (msg.Length > 0 ? ": " + msg : "");
    }
}
