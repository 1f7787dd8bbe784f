using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>
/// <c>prctl(PR_SET_MEMORY_MERGE, 1)</c> (Linux ≥ 6.4): every anonymous mapping of the container's process — and of
/// what it execs and forks — becomes mergeable, so ksmd shares pages that are identical across containers (clones of
/// one container above all). Asked for by the annotation <see cref="Annotation"/> = <c>1</c>, which duplication sets
/// on clones (<see cref="Duplicate.ContainerDuplicator"/>) and <c>tinyort run --memory-merge</c> on a container.
/// The prctl acts on the calling process only — there is no way to opt another process in (process_madvise takes no
/// MADV_MERGEABLE) — so it runs in the container's own set-up, before exec.
/// </summary>
internal sealed class MemoryMergeStep : SetupStep, IRowStep
{
    /// <summary>The annotation that asks for same-page merging.</summary>
    public const string Annotation = "io.tinyo.memory-merge";

    /// <summary>Whether <paramref name="spec"/> asks for it.</summary>
    public static bool Requested(Spec spec) => spec.Annotations?.TryGetValue(Annotation, out var v) == true && v == "1";

    public override string Name => "memory merge (KSM)";
    public void Emit(RowContext ctx) => ctx.S.Add("prctl(PR_SET_MEMORY_MERGE)", SYS_prctl, PR_SET_MEMORY_MERGE, 1);
    public override void Apply(InitContext ctx) => ctx.Calls.SetMemoryMerge();
}
