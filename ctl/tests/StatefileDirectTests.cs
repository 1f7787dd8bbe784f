using Tinyo.Api.Statefile;
using SF = Tinyo.Api.Statefile.Statefile;

namespace Tinyo.Ctl.Tests;

/// <summary>The direct network's statefile fields: expose, shm, stdin — and their errors with file:line:col.</summary>
public class StatefileDirectTests
{
    private static StatefileException Fails(string yaml) => Assert.Throws<StatefileException>(() => SF.Parse(yaml, "app.yml"));

    [Fact]
    public void Expose_shm_and_stdin_parse()
    {
        var specs = SF.Parse("""
            name: producer
            container: "alpine:latest"
            expose: unix
            resources: {memory: 256m}
            shm:
              - {name: frames, size: 64m}
              - {name: index, size: 4k}
            ---
            name: consumer
            container: "alpine:latest"
            expose: {unix: api.sock}
            shm: {name: frames, size: 64m}
            stdin: {from: producer}
            """, "pair.yml");
        Assert.Equal("producer.sock", specs[0].UnixSocket);
        Assert.Equal([("frames", 64L << 20), ("index", 4096L)], specs[0].Shm!.Select(s => (s.Name, s.SizeBytes)));
        Assert.Null(specs[0].StdinFrom);
        Assert.Equal("api.sock", specs[1].UnixSocket);
        Assert.Equal("frames", Assert.Single(specs[1].Shm!).Name);
        Assert.Equal("producer", specs[1].StdinFrom);
        var plain = Assert.Single(SF.Parse("container: alpine", "plain.yml"));
        Assert.Null(plain.UnixSocket);
        Assert.Null(plain.Shm);
        Assert.Null(plain.StdinFrom);
    }

    [Theory]
    [InlineData("../evil.sock")]
    [InlineData("a/b.sock")]
    [InlineData("..")]
    [InlineData("/run/other.sock")]
    public void A_socket_name_that_escapes_its_directory_is_refused_at_its_position(string name)
    {
        var e = Fails($"container: alpine\nexpose:\n  unix: \"{name}\"\n");
        Assert.Equal((3L, 9L, "expose.unix"), (e.Line, e.Column, e.Field));
        Assert.Contains("escapes the socket directory", e.Problem);
    }

    [Fact]
    public void Other_expose_mistakes_are_clear()
    {
        Assert.Contains("the only one is unix", Fails("container: alpine\nexpose: tcp\n").Problem);
        Assert.Contains("longer than 92", Fails($"container: alpine\nexpose: {{unix: {new string('a', 93)}}}\n").Problem);
        Assert.Contains("control character", Fails("container: alpine\nexpose: {unix: \"a\\u001b[2J\"}\n").Problem);
    }

    [Fact]
    public void A_region_larger_than_the_memory_limit_is_refused_at_its_size()
    {
        var e = Fails("""
            container: alpine
            resources: {memory: 64m}
            shm:
              - name: frames
                size: 128m
            """);
        Assert.Equal((5L, 11L, "shm[0].size"), (e.Line, e.Column, e.Field));
        Assert.Contains("larger than the app's memory limit (64 MiB)", e.Problem);
        Assert.Contains("listed twice", Fails("container: alpine\nshm: [{name: a, size: 1m}, {name: a, size: 1m}]\n").Problem);
        Assert.Contains("at least 4k", Fails("container: alpine\nshm: {name: a, size: 100}\n").Problem);
        Assert.Contains("not a valid region name", Fails("container: alpine\nshm: {name: ../x, size: 1m}\n").Problem);
        Assert.Equal("shm.size", Fails("container: alpine\nshm: {name: a}\n").Field);
    }

    [Fact]
    public void A_pipe_from_an_app_that_does_not_exist_is_refused_at_its_from()
    {
        var e = Fails("""
            name: consumer
            container: alpine
            stdin: {from: producr}
            ---
            name: producer
            container: alpine
            """);
        Assert.Equal((3L, 15L, "stdin.from"), (e.Line, e.Column, e.Field));
        Assert.Contains("no app 'producr' in this file (did you mean 'producer'?)", e.Problem);
        Assert.Contains("its own stdout", Fails("name: a\ncontainer: alpine\nstdin: {from: a}\n").Problem);
        Assert.Contains("replicas: 1", Fails("name: a\ncontainer: alpine\nreplicas: 2\n---\nname: b\ncontainer: alpine\nstdin: {from: a}\n").Problem);
        Assert.Contains("a pipe joins two apps on one node", Fails("name: a\ncontainer: alpine\nnode: n1\n---\nname: b\ncontainer: alpine\nnode: n2\nstdin: {from: a}\n").Problem);
        Assert.Contains("a pipe has one reader", Fails("name: a\ncontainer: alpine\n---\nname: b\ncontainer: alpine\nstdin: {from: a}\n---\nname: c\ncontainer: alpine\nstdin: {from: a}\n").Problem);
    }
}
