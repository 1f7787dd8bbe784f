using Tinyo.Api.Statefile;
using SF = Tinyo.Api.Statefile.Statefile;

namespace Tinyo.Ctl.Tests;

/// <summary>The placement constraints of a statefile (issue 14): <c>node: NAME</c> and <c>nodes: {LABEL: VALUE}</c>.</summary>
public class StatefilePlacementTests
{
    [Fact]
    public void Node_and_labels_are_read_with_their_position()
    {
        var s = Assert.Single(SF.Parse("name: db\ncontainer: busybox\nnode: node-b\nnodes: {disk: ssd, zone: 2}\n", "db.yml"));
        Assert.Equal("node-b", s.Node);
        Assert.Equal(new Dictionary<string, string> { ["disk"] = "ssd", ["zone"] = "2" }, s.NodeLabels);
        Assert.Equal((3L, 7L), s.PlacementAt);
        var none = Assert.Single(SF.Parse("name: db\ncontainer: busybox\n", "db.yml"));
        Assert.Null(none.Node);
        Assert.Null(none.NodeLabels);
    }

    [Theory]
    [InlineData("node: \"a b\"\n", 3, "node", "not a valid node name")]
    [InlineData("node: [a]\n", 3, "node", "expected a string")]
    [InlineData("nodes: ssd\n", 3, "nodes", "expected a mapping of node labels")]
    [InlineData("nodes: {}\n", 3, "nodes", "expected a mapping of node labels")]
    [InlineData("nodes: {\"a b\": x}\n", 3, "nodes.a b", "label name")]
    public void Bad_constraints_name_the_field_and_position(string line, long at, string field, string problem)
    {
        var e = Assert.Throws<StatefileException>(() => SF.Parse("name: db\ncontainer: busybox\n" + line, "db.yml"));
        Assert.Equal(at, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Message);
    }
}
