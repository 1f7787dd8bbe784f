using System.Text;
using Tinyo.Node.Api;
using Tinyo.Node.Cluster;

namespace Tinyo.Node.Tests.Cluster;

/// <summary>The join request parser: malformed bodies are refused with the field named (fuzz target "join").</summary>
public sealed class JoinRequestsTests
{
    private static readonly string N = new('a', 64);
    private static string Csr => Tinyo.Api.Cluster.ClusterCa.NewRequest("node-b").CsrPem;

    private static string Body(string? address = "10.99.0.2", string? proof = null, string net = "prod", string labels = "{\"zone\":\"a\"}", string? csr = null)
        => $$"""{"user":"admin","client_nonce":"{{N}}","server_nonce":"{{N}}","proof":"{{proof ?? N}}","net":"{{net}}","name":"node-b","address":{{(address is null ? "null" : $"\"{address}\"")}},"csr":"{{(csr ?? Csr).Replace("\n", "\\n")}}","time":"2026-12-07T19:00:00Z","cpus":2,"memory_bytes":1000,"labels":{{labels}}}""";

    [Fact]
    public void A_well_formed_join_parses()
    {
        var r = JoinRequests.Join(Encoding.UTF8.GetBytes(Body()));
        Assert.Equal("node-b", r.Name);
        Assert.Equal("a", r.Labels!["zone"]);
        Assert.Equal("admin", JoinRequests.Challenge(Encoding.UTF8.GetBytes($$"""{"user":"admin","client_nonce":"{{N}}"}""")).User);
    }

    [Theory]
    [InlineData("", "a JSON body is required")]
    [InlineData("{", "invalid JSON body")]
    [InlineData("[1]", "invalid JSON body")]
    [InlineData("{\"user\":\"admin\"}", "client_nonce")]
    [InlineData("{\"user\":\"Admin!\",\"client_nonce\":\"x\"}", "invalid user name")]
    public void Malformed_challenges_are_refused_naming_the_problem(string body, string expected)
    {
        var e = Assert.ThrowsAny<ApiRequestException>(() => JoinRequests.Challenge(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(400, e.Status);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Malformed_joins_are_refused_naming_the_field()
    {
        string Refused(string body) => Assert.ThrowsAny<ApiRequestException>(() => JoinRequests.Join(Encoding.UTF8.GetBytes(body))).Message;
        Assert.Contains("address", Refused(Body(address: "10.99.0.300")));
        Assert.Contains("address", Refused(Body(address: "0.0.0.0")));
        Assert.Contains("address", Refused(Body(address: "239.1.1.1")));
        Assert.Contains("address", Refused(Body(address: null)));
        Assert.Contains("proof", Refused(Body(proof: "xyz")));
        Assert.Contains("net", Refused(Body(net: "Bad Net")));
        Assert.Contains("csr", Refused(Body(csr: "not a csr")));
        Assert.Contains("csr", Refused(Body(csr: "-----BEGIN CERTIFICATE REQUEST-----" + new string('A', 5000))));
        Assert.Contains("labels", Refused(Body(labels: "{\"Bad Key\":\"v\"}")));
        Assert.Contains("labels", Refused(Body(labels: "{\"k\":\"line\\nbreak\"}")));
        var many = "{" + string.Join(',', Enumerable.Range(0, 40).Select(i => $"\"k{i}\":\"v\"")) + "}";
        Assert.Contains("labels", Refused(Body(labels: many)));
        var huge = Encoding.UTF8.GetBytes("{\"user\":\"" + new string('a', 20_000) + "\"}");
        Assert.Equal(413, Assert.ThrowsAny<ApiRequestException>(() => JoinRequests.Join(huge)).Status);
    }

    [Fact]
    public void The_seed_corpus_runs_through_the_parser_without_escaping()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tinyo.slnx"))) dir = dir.Parent;
        var corpus = Path.Combine(dir!.FullName, "fuzz", "corpus", "join");
        var files = Directory.GetFiles(corpus);
        Assert.NotEmpty(files);
        foreach (var f in files)
        {
            var b = File.ReadAllBytes(f);
            try
            {
                if (b.Length > 0 && b[0] == (byte)'{') JoinRequests.Join(b);
                else if (b.Length > 0 && b[0] % 2 == 0) JoinRequests.Challenge(b[1..]);
                else if (b.Length > 0) JoinRequests.Join(b[1..]);
            }
            catch (ApiRequestException)
            {
            }
        }
    }
}
