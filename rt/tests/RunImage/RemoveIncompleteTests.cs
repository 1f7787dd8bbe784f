using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary>
/// What a kill -9 in the middle of a create leaves — a container directory without a state record, a name pointing
/// at it or at nothing — is found and removed (issue 10 item 7, "leftovers"), and nothing else is touched.
/// Any directory without a record counts: the runtime writes the record before a create returns.
/// </summary>
public sealed class RemoveIncompleteTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tinyo-orphans-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EmptyDirectoriesAndDanglingNames_AreRemoved_RecordedContainersKept()
    {
        var root = new RuntimeRoot(_dir);
        Directory.CreateDirectory(root.Containers);
        // An interrupted create: the directory (with the overlay dirs it had made) and its claimed name.
        var orphan = ContainerNames.NewId();
        Directory.CreateDirectory(Path.Combine(root.Containers, orphan, "upper", "etc"));
        Directory.CreateDirectory(Path.Combine(root.Containers, orphan, "work"));
        ContainerNames.Claim(root, "app-1", orphan);
        // A name whose container directory is gone altogether.
        ContainerNames.Claim(root, "app-2", ContainerNames.NewId());
        // A recorded container (state.json present), and a file that is no container's.
        var kept = ContainerNames.NewId();
        Directory.CreateDirectory(Path.Combine(root.Containers, kept));
        File.WriteAllText(Path.Combine(root.Containers, kept, "state.json"), "{}");
        ContainerNames.Claim(root, "app-3", kept);
        File.WriteAllText(Path.Combine(root.Containers, "README"), "x");

        var removed = new ImageContainers(root, new RuntimeOptions()).RemoveIncomplete();

        Assert.Equal([orphan], removed);
        Assert.False(Directory.Exists(Path.Combine(root.Containers, orphan)));
        Assert.Null(ContainerNames.Lookup(root, "app-1"));
        Assert.Null(ContainerNames.Lookup(root, "app-2"));
        Assert.Equal(kept, ContainerNames.Lookup(root, "app-3"));
        Assert.True(Directory.Exists(Path.Combine(root.Containers, kept)));
        Assert.True(File.Exists(Path.Combine(root.Containers, "README")));
    }
}
