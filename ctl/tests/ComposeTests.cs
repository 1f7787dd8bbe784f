using Tinyo.Api.Statefile;
using SF = Tinyo.Api.Statefile.Statefile;

namespace Tinyo.Ctl.Tests;

/// <summary>Compose files read by the statefile parser: the mapping of each supported key, and an error naming
/// file:line:col and the key for everything else.</summary>
public class ComposeTests
{
    private const string Full = """
        version: "3.8"
        name: shop
        services:
          web:
            image: "nginx:1.27"
            command: ["nginx", "-g", "daemon off;"]
            entrypoint: /docker-entrypoint.sh
            environment:
              MODE: production
              WORKERS: 4
            ports:
              - "8080:80"
              - "5353:53/udp"
              - target: 443
                published: 8443
            volumes:
              - ./html:/usr/share/nginx/html:ro
              - /var/log/web:/var/log/nginx
              - type: bind
                source: /etc/ssl
                target: /etc/ssl
                read_only: true
            depends_on:
              - api
            restart: unless-stopped
            deploy:
              replicas: 3
            healthcheck:
              test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1/"]
              interval: 1m30s
              retries: 5
          api:
            image: "busybox"
            command: sh -c 'echo "hi there"; sleep 1000'
            environment:
              - DB=db:5432
            depends_on:
              db:
                condition: service_started
            restart: "no"
            healthcheck:
              test: wget -q -O- http://127.0.0.1:8000/ || exit 1
          db:
            image: "postgres:16"
            restart: on-failure
            healthcheck:
              test: ["CMD-SHELL", "pg_isready"]
              interval: 500ms
        """;

    private static StatefileException Fails(string yaml) => Assert.Throws<StatefileException>(() => SF.Parse(yaml, "docker-compose.yml", "/srv/shop"));

    [Fact]
    public void Every_supported_key_maps_onto_the_app()
    {
        var apps = SF.Parse(Full, "docker-compose.yml", "/srv/shop");
        Assert.Equal(["db", "api", "web"], apps.Select(a => a.Name)); // dependencies first

        var web = apps[2];
        Assert.Equal("nginx:1.27", web.Image);
        Assert.Equal(["nginx", "-g", "daemon off;"], web.Command!);
        Assert.Equal(["/docker-entrypoint.sh"], web.Entrypoint!);
        Assert.Equal("production", web.Env["MODE"]);
        Assert.Equal("4", web.Env["WORKERS"]);
        Assert.Equal([(8080, 80, "tcp"), (5353, 53, "udp"), (8443, 443, "tcp")], web.Ports.Select(p => (p.Host, p.Container, p.Protocol)));
        Assert.Equal([("/srv/shop/html", "/usr/share/nginx/html", true), ("/var/log/web", "/var/log/nginx", false), ("/etc/ssl", "/etc/ssl", true)],
            web.Mounts.Select(m => (m.Source, m.Target, m.ReadOnly)));
        Assert.Equal("always", web.Restart); // unless-stopped: tio - is the only stop
        Assert.Equal(3, web.Replicas);
        Assert.Equal(["wget", "-q", "-O-", "http://127.0.0.1/"], web.Healthcheck!.Command);
        Assert.Equal(90_000, web.Healthcheck.IntervalMs);
        Assert.Equal(5, web.Healthcheck.Retries);

        var api = apps[1];
        Assert.Equal(["sh", "-c", "echo \"hi there\"; sleep 1000"], api.Command!);
        Assert.Equal("db:5432", api.Env["DB"]);
        Assert.Equal("never", api.Restart);
        Assert.Equal(1, api.Replicas);
        Assert.Equal(["/bin/sh", "-c", "wget -q -O- http://127.0.0.1:8000/ || exit 1"], api.Healthcheck!.Command);

        var db = apps[0];
        Assert.Equal("on-failure", db.Restart);
        Assert.Equal(["/bin/sh", "-c", "pg_isready"], db.Healthcheck!.Command);
        Assert.Equal(500, db.Healthcheck.IntervalMs);
        Assert.Empty(db.Ports);
    }

    [Fact]
    public void Defaults_follow_compose_no_restart_one_replica_no_healthcheck()
    {
        var a = Assert.Single(SF.Parse("services:\n  one:\n    image: busybox\n    healthcheck:\n      disable: true\n", "compose.yaml"));
        Assert.Equal("one", a.Name);
        Assert.Equal("never", a.Restart);
        Assert.Equal(1, a.Replicas);
        Assert.Null(a.Healthcheck);
        Assert.Null(a.Command);
        var none = Assert.Single(SF.Parse("services:\n  one:\n    image: busybox\n    healthcheck:\n      test: [\"NONE\"]\n", "compose.yaml"));
        Assert.Null(none.Healthcheck);
    }

    [Fact]
    public void A_file_without_services_is_still_a_statefile()
    {
        var a = Assert.Single(SF.Parse("container: busybox\n", "svc.yml"));
        Assert.Equal("svc", a.Name);
    }

    [Theory]
    // unsupported keys: named with their line:col, at every level
    [InlineData("services:\n  web:\n    image: busybox\n    build: .\n", 4, 5, "services.web.build", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\nnetworks:\n  front: {}\n", 4, 1, "networks", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\nvolumes:\n  data: {}\n", 4, 1, "volumes", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\n    container_name: w\n", 4, 5, "services.web.container_name", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n      resources: {}\n", 6, 7, "services.web.deploy.resources", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\n    healthcheck:\n      test: true\n      timeout: 3s\n", 6, 7, "services.web.healthcheck.timeout", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\n    ports:\n      - target: 80\n        published: 8080\n        host_ip: 0.0.0.0\n", 7, 9, "services.web.ports[0].host_ip", "not supported by tio")]
    [InlineData("services:\n  web:\n    image: busybox\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: busybox\n", 6, 20, "services.web.depends_on.db.condition", "only service_started")]
    // values tio cannot honour
    [InlineData("services:\n  web:\n    command: \"true\"\n", 3, 5, "services.web.image", "required")]
    [InlineData("services:\n  web:\n    image: busybox\n    volumes:\n      - data:/data\n", 5, 9, "services.web.volumes[0]", "named volume")]
    [InlineData("services:\n  web:\n    image: busybox\n    volumes:\n      - /data\n", 5, 9, "services.web.volumes[0]", "anonymous volume")]
    [InlineData("services:\n  web:\n    image: busybox\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n", 5, 15, "services.web.volumes[0].type", "only bind mounts")]
    [InlineData("services:\n  web:\n    image: busybox\n    ports:\n      - \"80\"\n", 5, 9, "services.web.ports[0]", "random host port")]
    [InlineData("services:\n  web:\n    image: busybox\n    ports:\n      - \"127.0.0.1:80:80\"\n", 5, 9, "services.web.ports[0]", "host address")]
    [InlineData("services:\n  web:\n    image: busybox\n    environment:\n      - HOME\n", 5, 9, "services.web.environment[0]", "no value")]
    [InlineData("services:\n  web:\n    image: busybox\n    restart: on-failure:3\n", 4, 14, "services.web.restart", "retry limit")]
    [InlineData("services:\n  web:\n    image: busybox\n    restart: sometimes\n", 4, 14, "services.web.restart", "not one of")]
    [InlineData("services:\n  Web_1:\n    image: busybox\n", 2, 3, "services.Web_1", "cannot be an app name")]
    [InlineData("services:\n  web:\n    image: busybox\n    depends_on: [db]\n", 4, 18, "services.web.depends_on", "no service named 'db'")]
    [InlineData("services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", 7, 18, "services.b.depends_on", "dependency cycle: a → b → a")]
    [InlineData("services:\n  a:\n    image: busybox\n    ports: [\"80:80\"]\n  b:\n    image: busybox\n    ports: [\"80:8080\"]\n", 6, 5, "services.b.ports", "also published by service 'a'")]
    [InlineData("services:\n  web:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 10 seconds\n", 6, 17, "services.web.healthcheck.interval", "duration")]
    [InlineData("services: []\n", 1, 11, "services", "mapping of service names")]
    [InlineData("services:\n  web:\n    image: \"UPPER/Case\"\n", 3, 12, "services.web.image", "not a valid image reference")]
    public void Unsupported_keys_and_values_are_errors_naming_the_key_and_its_line(string yaml, int line, int col, string field, string problem)
    {
        var e = Fails(yaml);
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Problem);
        Assert.Equal((line, col), ((int)e.Line, (int)e.Column));
        Assert.StartsWith($"docker-compose.yml:{line}:{col}: {field}: ", e.Message);
    }

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("250ms", 250)]
    [InlineData("2m500ms", 120_500)]
    [InlineData("7", 7_000)]
    public void Compose_durations(string s, long ms) => Assert.Equal(ms, SF.ParseComposeDuration(s));

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("10x")]
    [InlineData("1.5s")]
    [InlineData("-1s")]
    [InlineData("99999999999h")]
    public void Bad_compose_durations(string s) => Assert.Null(SF.ParseComposeDuration(s));
}
