using System.CommandLine;

namespace Tinyo.Rt.Cli;

/// <summary>Finds the verb an argument list names, before the command tree is built (see Program.cs).</summary>
internal static class VerbArgument
{
    /// <summary>Every verb tinyort has (hidden verbs such as <c>init</c> are dispatched before parsing).</summary>
    public static readonly HashSet<string> Known =
    [
        "pull", "images", "inspect", "rmi", "gc", "load", "create", "start", "state", "kill", "delete", "run", "list",
        "spec", "features", "pause", "resume", "update", "events", "ps", "logs", "stop", "rm", "exec", "dup",
    ];

    /// <summary>
    /// The first argument that is not a global option or a global option's value, or null when there is none.
    /// Options of <paramref name="root"/> that take a value consume the next argument unless written <c>--x=v</c>;
    /// an unknown option is taken to have no value (a wrong guess only means every verb gets built).
    /// </summary>
    public static string? Find(string[] args, RootCommand root)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return null; // what follows is operands, never a verb
            if (!a.StartsWith('-')) return a;
            if (a.Contains('=')) continue;
            foreach (var o in root.Options)
            {
                if (o.ValueType != typeof(bool) && (o.Name == a || o.Aliases.Contains(a)))
                {
                    i++;
                    break;
                }
            }
        }
        return null;
    }
}
