using System.Diagnostics;
using System.Text.Json;

namespace Tinyo.Rt.Oci;

/// <summary>
/// Runs OCI lifecycle hooks (runtime-spec config.md, "POSIX-platform Hooks"). Each hook is executed with its
/// <c>path</c>, arguments <c>args[1..]</c> and exactly its <c>env</c>, the container's state JSON on stdin, and is
/// killed after <c>timeout</c> seconds.
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
/// container; a failing poststart or poststop hook is a warning. Deviation: .NET starts a program with argv[0] set
/// to its path, so a hook's <c>args[0]</c> is not passed as given (hooks read their arguments from args[1] on).</para>
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
        var psi = new ProcessStartInfo(h.Path)
        {
            UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        for (int i = 1; i < (h.Args?.Count ?? 0); i++) psi.ArgumentList.Add(h.Args![i]);
        psi.Environment.Clear();
        foreach (var e in h.Env ?? [])
        {
            int eq = e.IndexOf('=');
            if (eq > 0) psi.Environment[e[..eq]] = e[(eq + 1)..];
        }
        Process p;
        try { p = Process.Start(psi) ?? throw new RtException($"{kind} hook {h.Path}: could not be started"); }
        catch (System.ComponentModel.Win32Exception e) { return $"{kind} hook {h.Path}: {e.Message}"; }
        using (p)
        {
            var err = p.StandardError.ReadToEndAsync();
            var @out = p.StandardOutput.ReadToEndAsync();
            try
            {
                p.StandardInput.Write(state);
                p.StandardInput.Close();
            }
            catch (IOException) { } // the hook need not read its stdin
            int ms = h.Timeout is { } t ? checked(t * 1000) : Timeout.Infinite;
            if (!p.WaitForExit(ms))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                p.WaitForExit();
                return $"{kind} hook {h.Path} timed out after {h.Timeout} s";
            }
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                var msg = (err.Result.Length > 0 ? err.Result : @out.Result).Trim();
                if (msg.Length > 512) msg = msg[..512];
                return $"{kind} hook {h.Path} exited with status {p.ExitCode}" + (msg.Length > 0 ? ": " + msg : "");
            }
            return null;
        }
    }
}
