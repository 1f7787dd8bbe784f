namespace Tinyo.Ctl.Tests.E2e;

/// <summary>`tio + docker-compose.yml` through the real binaries: two services become two running apps, each with its
/// command, environment, bind mount and replicas; `tio - ` of the services removes them.</summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ComposeE2eTests(MirrorRegistry registry) : IClassFixture<MirrorRegistry>
{
    [Fact]
    public async Task A_two_service_compose_file_applies_as_two_apps()
    {
        await using var n = await ReconcileNode.UpAsync(registry);
        // The project lives outside the node's directories (which no container may bind).
        var project = Directory.CreateTempSubdirectory("tio-compose-").FullName;
        try
        {
            await RunAsync(n, project);
        }
        finally
        {
            Directory.Delete(project, true);
        }
    }

    private static async Task RunAsync(ReconcileNode n, string project)
    {
        var data = Path.Combine(project, "data");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "greeting"), "hello from the host\n");
        var file = Path.Combine(project, "docker-compose.yml");
        await File.WriteAllTextAsync(file, """
            services:
              web:
                image: "busybox:latest"
                command: ["sh", "-c", "echo web-$$ROLE; cat /data/greeting; exec sleep 1000"]
                environment:
                  ROLE: front
                volumes:
                  - ./data:/data:ro
                depends_on: [db]
                restart: always
                deploy:
                  replicas: 2
              db:
                image: "busybox:latest"
                entrypoint: ["sh", "-c"]
                command: ["echo db-$$ROLE; exec sleep 1000"]
                environment:
                  - ROLE=store
            """.Replace("$$", "$"));
        var r = await n.Tio("+", file);
        Assert.True(r.Code == 0, $"tio + docker-compose.yml: {r.Out}{r.Err}");
        Assert.Contains("db", r.Out);
        Assert.Contains("web", r.Out);
        Assert.True(r.Out.IndexOf("db", StringComparison.Ordinal) < r.Out.IndexOf("web", StringComparison.Ordinal), "dependencies first: " + r.Out);

        var web = await n.WaitAppAsync("web", a => a.State == "running" && a.Containers!.Count == 2, "web running with 2 replicas");
        var db = await n.WaitAppAsync("db", a => a.State == "running", "db running");
        Assert.Equal("busybox:latest", web.Image);
        Assert.Equal(1, db.Replicas);
        await ReconcileNode.WaitAsync(() => n.LogOf("web-1").Contains("web-front\nhello from the host"), "web's output");
        await ReconcileNode.WaitAsync(() => n.LogOf("web-2").Contains("web-front"), "web-2's output");
        await ReconcileNode.WaitAsync(() => n.LogOf("db-1").Contains("db-store"), "db's output");

        // An unsupported key: refused whole with file:line:col, nothing changed.
        await File.WriteAllTextAsync(file, "services:\n  web:\n    image: busybox\n    networks: [front]\n");
        var bad = await n.Tio("+", file);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("docker-compose.yml:4:5: services.web.networks: not supported by tio", bad.Err);
        Assert.Equal(2, (await n.AppAsync("web"))!.Containers!.Count);

        Assert.Equal(0, (await n.Tio("-", "web")).Code);
        Assert.Equal(0, (await n.Tio("-", "db")).Code);
        await ReconcileNode.WaitAsync(() => n.AllContainerIds().Count == 0, "containers removed");
    }
}
