using Tinyo.Rt.Tests.Fixtures;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Tests.Setup;

/// <summary>What <c>tio ++</c> says first when a daemon does not start on a full disk (issue 10, item 7).</summary>
public class StateDiskTests
{
    [SkippableFact]
    public void A_full_state_disk_is_named_as_the_cause_and_a_roomy_one_is_not()
    {
        using var disk = new SmallTmpfs(16 * 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        var root = Path.Combine(disk.Dir, "tinyo");
        Directory.CreateDirectory(root);
        Assert.Null(StateDisk.Problem(root));

        disk.Fill();
        var problem = StateDisk.Problem(root);
        Assert.NotNull(problem);
        Assert.StartsWith("disk full: " + root + " has 0 MiB free of 16 MiB", problem, StringComparison.Ordinal);
        // A state directory that does not exist yet is judged by its nearest existing parent.
        Assert.NotNull(StateDisk.Problem(Path.Combine(root, "not", "yet")));

        File.Delete(Path.Combine(disk.Dir, "filler"));
        Assert.Null(StateDisk.Problem(root));
    }
}
