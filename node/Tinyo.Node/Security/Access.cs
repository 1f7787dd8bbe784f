using Tinyo.Api.Statefile;

namespace Tinyo.Node.Security;

/// <summary>What a user may do: the three roles.</summary>
public enum Role
{
    /// <summary>Everything: users, nodes, clusters (nets), secrets, the bind allow-list, and every app.</summary>
    Admin,
    /// <summary>Apply, remove, logs and exec of the apps of its clusters, host binds within the allow-list; reads.</summary>
    Deployer,
    /// <summary>Reads only: status, apps, nets, secret names, the allow-list. No logs, no exec.</summary>
    Viewer,
}

/// <summary>An authenticated caller: its name, role and (for a deployer) the clusters it deploys to.</summary>
public sealed record Caller(string Name, Role Role, IReadOnlyList<string> Clusters)
{
    /// <summary>Whether the caller is an admin.</summary>
    public bool IsAdmin => Role == Role.Admin;

    /// <summary>Whether the caller may change (apply, remove, read the logs of, exec in) apps of <paramref name="cluster"/>.</summary>
    public bool Deploys(string? cluster)
        => Role == Role.Admin || (Role == Role.Deployer && cluster is not null && Clusters.Contains(cluster, StringComparer.Ordinal));
}

/// <summary>
/// Roles and the bind allow-list: the node's authorization rules, in one place (NodeApi asks; nothing else decides).
/// </summary>
/// <remarks>
/// A cluster is a net (<c>tio ++ -net NAME</c>): today every app of a node belongs to the node's net, so a deployer of
/// that cluster deploys any app there and a deployer of another cluster none. Host paths are the other way out of a
/// container: a non-admin may bind only sources under a path of the allow-list the admin sets (empty: none), compared
/// by whole path components (<c>/srv/data</c> allows <c>/srv/data/x</c>, not <c>/srv/database</c>), on the normalised
/// paths the statefile parser produces (absolute, no <c>..</c>).
/// </remarks>
public static class Access
{
    /// <summary>The role names as the API spells them.</summary>
    public static readonly string[] RoleNames = ["admin", "deployer", "viewer"];

    /// <summary>Parses a role name (null: admin); null when it is not one.</summary>
    public static Role? ParseRole(string? name) => name switch
    {
        null or "admin" => Role.Admin,
        "deployer" => Role.Deployer,
        "viewer" => Role.Viewer,
        _ => null,
    };

    /// <summary>The API's name of <paramref name="role"/>.</summary>
    public static string Name(Role role) => RoleNames[(int)role];

    /// <summary>Whether <paramref name="source"/> lies within one of <paramref name="allowed"/> (whole components).</summary>
    public static bool MayBind(string source, IReadOnlyList<string> allowed)
    {
        foreach (var a in allowed)
        {
            var root = a.TrimEnd('/');
            if (root.Length == 0) return true; // "/" itself: the admin allowed everything
            if (source == root || (source.StartsWith(root, StringComparison.Ordinal) && source[root.Length] == '/')) return true;
        }
        return false;
    }

    /// <summary>
    /// The first mount source of <paramref name="specs"/> that <paramref name="caller"/> may not bind, or null.
    /// Admins bind anything.
    /// </summary>
    public static (string App, string Source)? ForbiddenBind(Caller caller, IEnumerable<AppSpec> specs, IReadOnlyList<string> allowed)
    {
        if (caller.IsAdmin) return null;
        foreach (var s in specs)
            foreach (var m in s.Mounts)
                if (!MayBind(m.Source, allowed)) return (s.Name, m.Source);
        return null;
    }

    /// <summary>Checks an allow-list entry: an absolute path without <c>..</c> or NUL.</summary>
    public static string? PathProblem(string p)
    {
        if (p.Length == 0 || p[0] != '/') return $"'{p}' is not an absolute path";
        if (p.Contains('\0')) return "a path contains a NUL byte";
        foreach (var part in p.Split('/'))
            if (part == "..") return $"'{p}' contains '..'";
        return null;
    }
}
