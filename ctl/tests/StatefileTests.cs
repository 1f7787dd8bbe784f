using Tinyo.Api.Statefile;
using SF = Tinyo.Api.Statefile.Statefile;

namespace Tinyo.Ctl.Tests;

public class StatefileTests
{
    private const string Seed = """
        container: "alpine:latest"
        port: 8080
        mounts:
          - source: "/etc/hosts"
            target: "/mnt/hosts"
          - source: "/tmp/local-config"
            target: "/config"
        """;

    private static StatefileException Fails(string yaml, string file = "app.yml")
        => Assert.Throws<StatefileException>(() => SF.Parse(yaml, file));

    [Fact]
    public void SeedExampleParsesVerbatim()
    {
        var s = Assert.Single(SF.Parse(Seed, "alpine-1.yml"));
        Assert.Equal("alpine-1", s.Name);
        Assert.Equal("alpine:latest", s.Image);
        var p = Assert.Single(s.Ports);
        Assert.Equal((8080, 8080, "tcp"), (p.Host, p.Container, p.Protocol));
        Assert.Equal(2, s.Mounts.Count);
        Assert.Equal(("/etc/hosts", "/mnt/hosts", false), (s.Mounts[0].Source, s.Mounts[0].Target, s.Mounts[0].ReadOnly));
        Assert.Equal(("/tmp/local-config", "/config"), (s.Mounts[1].Source, s.Mounts[1].Target));
        Assert.Null(s.Command);
        Assert.Equal(1, s.Replicas);
        Assert.Equal("always", s.Restart);
    }

    [Fact]
    public void ExamplesInTheRepositoryParse()
    {
        var root = Repo.Root;
        var seed = File.ReadAllText(Path.Combine(root, "examples/basic/alpine-1.yml"));
        Assert.Equal(Seed.Trim(), seed.Trim()); // verbatim, as the issue gives it
        Assert.Equal("alpine-1", Assert.Single(SF.Load(Path.Combine(root, "examples/basic/alpine-1.yml"))).Name);
        var web = Assert.Single(SF.Load(Path.Combine(root, "examples/web/httpd.yml")));
        Assert.Equal("web", web.Name);
        Assert.Equal("busybox:latest", web.Image);
        Assert.Equal(["httpd", "-f", "-v", "-p", "8080", "-h", "/www"], web.Command);
        Assert.Equal(Path.Combine(root, "examples/web/www"), web.Mounts[0].Source);
        Assert.True(File.Exists(Path.Combine(web.Mounts[0].Source, "index.html")));
        Assert.True(web.Mounts[0].ReadOnly);
    }

    [Fact]
    public void EveryField()
    {
        var s = Assert.Single(SF.Parse("""
            name: full
            container: "registry.example:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            command: sh -c 'echo "hi there"; sleep 1'
            entrypoint: ["/bin/tini", "--"]
            env:
              A: "1"
              B: 2
              C: true
              D:
            port:
              - 80
              - "8443:443"
              - "53:53/udp"
            mounts:
              - source: /data
                target: /var/lib/data/
                readonly: true
            secrets:
              - db-pass
              - name: api-key
                env: API_KEY
            replicas: 3
            restart: on-failure
            resources:
              memory: 512m
              cpus: 0.5
              pids: 100
            healthcheck:
              command: wget -q http://127.0.0.1/
              interval: 5s
              retries: 2
            """, "x.yml"));
        Assert.Equal("full", s.Name);
        Assert.Equal(["sh", "-c", "echo \"hi there\"; sleep 1"], s.Command);
        Assert.Equal(["/bin/tini", "--"], s.Entrypoint);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "2", ["C"] = "true", ["D"] = "" }, s.Env);
        Assert.Equal(["80", "8443:443", "53:53/udp"], s.Ports.Select(p => p.ToString()));
        Assert.Equal("/var/lib/data", s.Mounts[0].Target);
        Assert.True(s.Mounts[0].ReadOnly);
        Assert.Equal(("db-pass", (string?)null, "/run/secrets/db-pass"), (s.Secrets[0].Name, s.Secrets[0].Env, s.Secrets[0].Target));
        Assert.Equal(("api-key", "API_KEY"), (s.Secrets[1].Name, s.Secrets[1].Env));
        Assert.Equal(3, s.Replicas);
        Assert.Equal("on-failure", s.Restart);
        Assert.Equal(512L << 20, s.Resources!.MemoryBytes);
        Assert.Equal(0.5, s.Resources.Cpus);
        Assert.Equal(100, s.Resources.Pids);
        Assert.Equal(["/bin/sh", "-c", "wget -q http://127.0.0.1/"], s.Healthcheck!.Command);
        Assert.Equal(5000, s.Healthcheck.IntervalMs);
        Assert.Equal(2, s.Healthcheck.Retries);
    }

    [Fact]
    public void EnvAsListAndPortAsHostContainerString()
    {
        var s = Assert.Single(SF.Parse("container: a\nenv: [\"X=1\", \"Y=a=b\"]\nport: \"8080:80\"\ncommand: [echo, hi]\n", "a.yml"));
        Assert.Equal("1", s.Env["X"]);
        Assert.Equal("a=b", s.Env["Y"]);
        Assert.Equal((8080, 80), (s.Ports[0].Host, s.Ports[0].Container));
        Assert.Equal(["echo", "hi"], s.Command);
    }

    [Fact]
    public void SeveralDocumentsNeedNamesAndGiveSeveralApps()
    {
        var specs = SF.Parse("name: a\ncontainer: alpine\n---\nname: b\ncontainer: busybox\n---\n", "two.yml");
        Assert.Equal(["a", "b"], specs.Select(s => s.Name));
        var e = Fails("name: a\ncontainer: alpine\n---\ncontainer: busybox\n", "two.yml");
        Assert.Equal((4L, 1L, "name"), (e.Line, e.Column, e.Field));
        Assert.Contains("several containers", e.Message);
        var dup = Fails("name: a\ncontainer: alpine\n---\nname: a\ncontainer: busybox\n");
        Assert.Contains("defined twice (first at line 1)", dup.Message);
    }

    [Fact]
    public void NetNamesTheClusterAndNetworkChoosesNoneOrHost()
    {
        var s = Assert.Single(SF.Parse("container: alpine\nnet: backend\n", "a.yml"));
        Assert.Equal(("backend", (string?)null, 2L, 6L), (s.Net, s.Network, s.NetAt.Line, s.NetAt.Column));
        var d = Assert.Single(SF.Parse("container: alpine\n", "a.yml"));
        Assert.Equal(((string?)null, (string?)null), (d.Net, d.Network)); // the node's first cluster
        Assert.Null(Assert.Single(SF.Parse("container: alpine\nnetwork: cluster\n", "a.yml")).Network);
        Assert.Equal("none", Assert.Single(SF.Parse("container: alpine\nnetwork: none\n", "a.yml")).Network);
        Assert.Equal("host", Assert.Single(SF.Parse("container: alpine\nnetwork: host\n", "a.yml")).Network);
        // The position is not stored: the spec hash of an app does not change with its layout.
        Assert.DoesNotContain("net_at", System.Text.Json.JsonSerializer.Serialize(s, Tinyo.Api.ApiJson.Default.AppSpec));
    }

    [Theory]
    [InlineData("container: alpine\nnet: Back_End\n", 2, 6, "net", "not a valid cluster name")]
    [InlineData("container: alpine\nnet: [a]\n", 2, 6, "net", "expected a string")]
    [InlineData("container: alpine\nnetwork: bridge\n", 2, 10, "network", "not one of cluster, none, host")]
    [InlineData("container: alpine\nnetwork: host\nnet: a\n", 3, 6, "net", "on no cluster")]
    public void BadNetAndNetworkAreRefusedWithThePosition(string yaml, int line, int col, string field, string text)
    {
        var e = Fails(yaml);
        Assert.Equal((line, col, field), ((int)e.Line, (int)e.Column, e.Field));
        Assert.Contains(text, e.Message);
    }

    [Theory]
    [InlineData("container: alpine\nprot: 80\n", 2, 1, "prot", "did you mean 'port'?")]
    [InlineData("container: alpine\nmount: []\n", 2, 1, "mount", "did you mean 'mounts'?")]
    [InlineData("container: alpine\nmounts:\n  - source: /a\n    taget: /b\n", 4, 5, "mounts[0].taget", "did you mean 'target'?")]
    [InlineData("container: alpine\nresources:\n  memroy: 1g\n", 3, 3, "resources.memroy", "did you mean 'memory'?")]
    [InlineData("container: alpine\nhealthcheck:\n  command: x\n  retry: 1\n", 4, 3, "healthcheck.retry", "did you mean 'retries'?")]
    [InlineData("container: alpine\nrestart: allways\n", 2, 10, "restart", "did you mean 'always'?")]
    [InlineData("container: alpine\nzzzzzz: 1\n", 2, 1, "zzzzzz", "unknown field (known: name, container")]
    public void UnknownFieldsAreRejectedWithASuggestion(string yaml, int line, int col, string field, string text)
    {
        var e = Fails(yaml);
        Assert.Equal((line, col, field), ((int)e.Line, (int)e.Column, e.Field));
        Assert.Contains(text, e.Message);
        Assert.StartsWith($"app.yml:{line}:{col}: {field}: ", e.Message);
    }

    [Theory]
    [InlineData("port: 80\n", 1, 1, "container", "required")]
    [InlineData("container: alpine\nport: 0\n", 2, 7, "port", "expected a port")]
    [InlineData("container: alpine\nport: 70000\n", 2, 7, "port", "expected a port")]
    [InlineData("container: alpine\nport: \"80:x\"\n", 2, 7, "port", "expected a port")]
    [InlineData("container: alpine\nport: \"80/sctp\"\n", 2, 7, "port", "tcp or udp")]
    [InlineData("container: alpine\nport: [80, 80]\n", 2, 7, "port", "published twice")]
    [InlineData("container: alpine\nmounts:\n  - source: rel\n    target: /b\n", 3, 13, "mounts[0].source", "absolute path")]
    [InlineData("container: alpine\nmounts:\n  - source: /a\n    target: /b/../../etc\n", 4, 13, "mounts[0].target", "'..'")]
    [InlineData("container: alpine\nmounts:\n  - source: /a\n    target: /\n", 4, 13, "mounts[0].target", "root")]
    [InlineData("container: alpine\nmounts:\n  - target: /b\n", 3, 5, "mounts[0].source", "required")]
    [InlineData("container: alpine\nmounts:\n  - source: /a\n    target: /b\n    readonly: maybe\n", 5, 15, "mounts[0].readonly", "true or false")]
    [InlineData("container: alpine\nmounts: /a\n", 2, 9, "mounts", "expected a list")]
    [InlineData("container: alpine\nreplicas: -1\n", 2, 11, "replicas", "integer from 0 to 1000")]
    [InlineData("container: alpine\nreplicas: many\n", 2, 11, "replicas", "integer")]
    [InlineData("container: alpine\nenv: [\"NOEQUALS\"]\n", 2, 7, "env[0]", "KEY=VALUE")]
    [InlineData("container: alpine\nenv:\n  1BAD: x\n", 3, 3, "env", "not a valid variable name")]
    [InlineData("container: alpine\nenv: x\n", 2, 6, "env", "expected a mapping")]
    [InlineData("container: alpine\ncommand: \"echo 'unterminated\"\n", 2, 10, "command", "unterminated quote")]
    [InlineData("container: alpine\ncommand: []\n", 2, 10, "command", "empty")]
    [InlineData("container: alpine\ncommand: {a: b}\n", 2, 10, "command", "string or a list")]
    [InlineData("container: alpine\nsecrets: [Bad_Name]\n", 2, 11, "secrets[0]", "not a valid secret name")]
    [InlineData("container: alpine\nsecrets: [a, a]\n", 2, 14, "secrets[1]", "listed twice")]
    [InlineData("container: alpine\nresources:\n  memory: lots\n", 3, 11, "resources.memory", "size")]
    [InlineData("container: alpine\nresources:\n  memory: 1k\n", 3, 11, "resources.memory", "at least 4m")]
    [InlineData("container: alpine\nresources:\n  cpus: -1\n", 3, 9, "resources.cpus", "positive number")]
    [InlineData("container: alpine\nhealthcheck:\n  interval: 5s\n", 3, 3, "healthcheck.command", "required")]
    [InlineData("container: alpine\nhealthcheck:\n  command: x\n  interval: soon\n", 4, 13, "healthcheck.interval", "duration")]
    [InlineData("container: \"has space\"\n", 1, 12, "container", "not a valid image reference")]
    [InlineData("name: Bad_Name\ncontainer: a\n", 1, 7, "name", "not a valid name")]
    [InlineData("container: alpine\ncontainer: busybox\n", 2, 1, null, "Duplicate key")]
    [InlineData("- just\n- a list\n", 1, 1, null, "mapping")]
    public void ValidationErrorsNameThePositionAndTheField(string yaml, int line, int col, string? field, string text)
    {
        var e = Fails(yaml);
        Assert.Contains(text, e.Message);
        Assert.Equal(field, e.Field);
        Assert.Equal((line, col), ((int)e.Line, (int)e.Column));
    }

    [Fact]
    public void InvalidYamlHasAPosition()
    {
        var e = Fails("container: alpine\nmounts:\n  - source: /a\n   target: [unclosed\n");
        Assert.True(e.Line > 0);
        Assert.StartsWith($"app.yml:{e.Line}:{e.Column}: invalid YAML", e.Message);
    }

    [Fact]
    public void EmptyFileAndBadFileNameDefault()
    {
        Assert.Contains("empty", Fails("").Message);
        Assert.Contains("empty", Fails("# only a comment\n").Message);
        var e = Fails("container: alpine\n", "My_App.yml");
        Assert.Contains("set 'name:'", e.Message);
        Assert.Equal("ok", Assert.Single(SF.Parse("name: ok\ncontainer: alpine\n", "My_App.yml")).Name);
    }

    [Fact]
    public void AliasBombIsBounded()
    {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
                   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\ncontainer: alpine\ncommand: *e\n";
        var e = Fails(yaml);
        Assert.NotNull(e); // unknown field 'a' comes first; the walk never expands 10^5 nodes
    }

    [Fact]
    public void OddInputNeverThrowsAnythingButStatefileException()
    {
        string[] odd =
        [
            "{", "[", "\"", "'", "&a *a", "*x", "!!binary zz", "? [a]\n: b", "container: !!int x", "%YAML 9.9\n---\na: b",
            "container: alpine\n? complex key\n: 1", "--- !<tag:x> {}", "a: &x\n  b: *x", "\t\tcontainer: a", "\0", "\uFEFF\uFEFF",
            "container: [a]", "container: {a: 1}", "container: alpine\nport: {a: 1}", "container: alpine\nenv: {? [a] : b}",
            "container: alpine\nmounts: [[]]", "container: alpine\nsecrets: [[a]]", "container: alpine\nhealthcheck: []",
            "&a [*a]", "a: !!map [x]", "%TAG ! tag:x,2000:\n--- !foo bar",
        ];
        var rng = new Random(42);
        var inputs = odd.ToList();
        for (var i = 0; i < 2000; i++)
        {
            var chars = new char[rng.Next(1, 60)];
            const string alphabet = "ac:-[]{}!&*?|>'\"#%@`\n \t,.0123456789/\\";
            for (var j = 0; j < chars.Length; j++) chars[j] = alphabet[rng.Next(alphabet.Length)];
            inputs.Add(new string(chars));
            inputs.Add("container: alpine\n" + new string(chars));
        }
        foreach (var s in inputs)
        {
            try
            {
                SF.Parse(s, "f.yml");
            }
            catch (StatefileException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name} escaped for input {Uri.EscapeDataString(s)}: {e.Message}");
            }
        }
    }

    [Theory]
    [InlineData("a b  c", new[] { "a", "b", "c" })]
    [InlineData("sh -c 'x y'", new[] { "sh", "-c", "x y" })]
    [InlineData("echo \"a \\\"b\\\"\"", new[] { "echo", "a \"b\"" })]
    [InlineData("a\\ b", new[] { "a b" })]
    [InlineData("''", new[] { "" })]
    public void ShellWordsSplitLikeAShell(string s, string[] words) => Assert.Equal(words, ShellWords.Split(s));

    [Fact]
    public void SuggestionsAndSizes()
    {
        Assert.Equal("port", SF.Suggest("ports", ["port", "mounts"]));
        Assert.Null(SF.Suggest("xyzzy", ["port", "mounts"]));
        Assert.Equal(1L << 30, SF.ParseSize("1g"));
        Assert.Equal(1536L, SF.ParseSize("1536"));
        Assert.Null(SF.ParseSize("-5"));
        Assert.Equal(500, SF.ParseDuration("500ms"));
        Assert.Equal(60_000, SF.ParseDuration("1m"));
    }
}

internal static class Repo
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tinyo.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }
}
