using System.Runtime.InteropServices;

namespace Tinyo.Rt.Setup;

/// <summary>
/// The ordered, typed list of set-up steps of one container start (<see cref="ContainerPlan"/>) or one exec
/// (<see cref="ExecPlan"/>), built once from the configuration. Two back-ends consume the same list: the direct start
/// writes each step's rows into one <see cref="Processes.SyscallScript"/> (<see cref="DirectBackend"/>); init applies
/// each step in the container (<see cref="InitBackend"/>). Where a new set-up step goes: a class in this folder, added
/// by the plan builder at its place in the order; without rows it sends such containers to init, by construction.
/// </summary>
internal sealed class SetupPlan
{
    /// <summary>Steps run by the clone child itself before anything else, in both back-ends (namespaces joined by
    /// path: the init back-end's child runs them before it execs init, because a multithreaded init could not join a
    /// mount namespace).</summary>
    public List<SetupStep> Launch { get; } = [];

    /// <summary>The set-up proper, in order.</summary>
    public List<SetupStep> Steps { get; } = [];

    /// <summary>A pid namespace to be born in (its path), or null: joined around the clone, not by a step.</summary>
    public string? PidNamespacePath { get; set; }

    /// <summary>Why the direct back-end cannot run this plan (the first step without rows, or whose rows decline),
    /// or null when it can.</summary>
    /// <remarks>Computed once, on first use: the plan is complete by then (the builders return it whole).</remarks>
    public string? DirectDecline
    {
        get
        {
            if (!_declineKnown)
            {
                _decline = Compute();
                _declineKnown = true;
            }
            return _decline;
        }
    }

    private string? _decline;
    private bool _declineKnown;

    private string? Compute()
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64) return "not x86-64";
        foreach (var s in Launch) if (Declines(s) is { } r) return r;
        foreach (var s in Steps) if (Declines(s) is { } r) return r;
        return null;
    }

    /// <summary>Whether the direct back-end can run every step.</summary>
    public bool CanRunDirect => DirectDecline is null;

    private static string? Declines(SetupStep s) => s is IRowStep r ? r.DirectDecline : s.Reason;

    /// <summary>The step names in order (launch steps first): what a test or a debug listing reads.</summary>
    public IEnumerable<string> Names
    {
        get
        {
            foreach (var s in Launch) yield return s.Name;
            foreach (var s in Steps) yield return s.Name;
        }
    }
}
