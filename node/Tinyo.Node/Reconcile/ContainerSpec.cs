using System.Globalization;
using Tinyo.Api.Statefile;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Turns an app's spec into the runtime's <see cref="RunOptions"/> for replica i, named <c>APP-i</c>, with Compose's
/// command semantics: <c>command</c> replaces the image's Cmd; <c>entrypoint</c> replaces its Entrypoint and drops
/// its Cmd (unless <c>command</c> is given too). Every container gets its own network namespace: its cluster's
/// (prepared by the node, see <see cref="ReplicaAddressing"/>), or loopback only (<c>network: none</c>), or the
/// host's (<c>network: host</c>); published ports reach it through the node's proxy.
/// </summary>
internal static class ContainerSpec
{
    /// <summary>Annotation keys the node labels its containers with.</summary>
    public const string AppLabel = "tinyo.app", SpecLabel = "tinyo.spec", ReplicaLabel = "tinyo.replica";

    /// <summary>The rt container name of replica <paramref name="index"/> (1-based) of <paramref name="app"/>.</summary>
    public static string Name(string app, int index) => app + "-" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The run options. Mount sources are checked (and missing ones created) when the container is made;
    /// <paramref name="defaults"/> (<see cref="ContainerDefaults.Standard"/>) limit memory and processes unless the
    /// spec's <c>resources</c> say otherwise; <paramref name="secretsDir"/> is bound
    /// read-only at /run/secrets; <paramref name="secretEnv"/> adds <c>KEY=VALUE</c> for secrets injected as variables.
    /// </summary>
    public static RunOptions For(AppSpec spec, int index, string hash, string? secretsDir, IReadOnlyList<string> secretEnv, ContainerDefaults? defaults = null)
    {
        var o = new RunOptions
        {
            Image = spec.Image,
            Name = Name(spec.Name, index),
            Hostname = Name(spec.Name, index),
            Network = spec.Network == "host" ? "host" : "none", // a cluster's namespace: ReplicaAddressing.Apply
            Detach = true,
            Annotations = new Dictionary<string, string>
            {
                [AppLabel] = spec.Name, [SpecLabel] = hash, [ReplicaLabel] = index.ToString(CultureInfo.InvariantCulture),
            },
        };
        if (spec.Entrypoint is { } ep)
        {
            o.Entrypoint = ep.Count == 0 ? "" : ep[0];
            o.Command = [.. ep.Skip(1), .. spec.Command ?? []];
        }
        else if (spec.Command is { } cmd) o.Command = [.. cmd];
        foreach (var (k, v) in spec.Env) o.Env.Add(k + "=" + v);
        o.Env.AddRange(secretEnv);
        // A missing source is created (a root-owned 0755 directory, never through a symlink), as Docker's -v does.
        foreach (var m in spec.Mounts)
            o.Volumes.Add(new BindMount(m.Source, m.Target, m.ReadOnly) { CreateSource = true });
        // nosuid,nodev,noexec inside as the tmpfs is outside: secrets are data, never programs.
        if (secretsDir is not null) o.Volumes.Add(new BindMount(secretsDir, "/run/secrets", ReadOnly: true) { NoExec = true, Trusted = true });
        defaults ??= ContainerDefaults.Standard;
        o.Memory = defaults.MemoryBytes > 0 ? defaults.MemoryBytes : null;
        o.Pids = defaults.Pids > 0 ? defaults.Pids : null;
        if (spec.Resources is { } r)
        {
            if (r.MemoryBytes > 0) o.Memory = r.MemoryBytes;
            if (r.Cpus > 0) o.Cpus = r.Cpus;
            if (r.Pids > 0) o.Pids = r.Pids;
        }
        return o;
    }
}
