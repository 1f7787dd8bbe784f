using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Tinyo.Api.Statefile;

// Compose files (docker-compose.yml): `tio + docker-compose.yml` maps each service onto an app. Strict: every key
// that is not mapped is an error naming it and its line:col, never silently dropped (a file that runs differently
// under tio than under docker compose would be worse than one refused).
public static partial class Statefile
{
    /// <summary>Top-level keys of a Compose file that tio reads: <c>services</c>; <c>version</c> and <c>name</c> are informational.</summary>
    private static readonly string[] ComposeTop = ["services", "version", "name"];

    /// <summary>The service keys that map onto an app.</summary>
    private static readonly string[] ComposeService =
        ["image", "command", "entrypoint", "environment", "ports", "volumes", "depends_on", "restart", "deploy", "healthcheck"];

    /// <summary>Whether a document is a Compose file: a mapping with a top-level <c>services</c> key.</summary>
    internal static bool IsCompose(YamlNode root)
        => root is YamlMappingNode m && m.Children.Keys.Any(k => k is YamlScalarNode { Value: "services" });

    private sealed partial class Reader
    {
        /// <summary>
        /// The apps of a Compose file, dependencies first (<c>depends_on</c>: a service comes after every service it
        /// depends on; otherwise in file order). An unknown dependency or a cycle is an error.
        /// </summary>
        public IReadOnlyList<AppSpec> Compose(YamlMappingNode root)
        {
            Count(root);
            var top = Fields(root, null, ComposeTop, compose: true);
            if (Opt(top, "version") is { } ver) Scalar(ver, "version", "a string");
            if (Opt(top, "name") is { } nm) Str(nm, "name");
            if (Opt(top, "services") is not YamlMappingNode services || services.Children.Count == 0)
                throw Error(top.GetValueOrDefault("services") ?? root, "services", "expected a mapping of service names to services");

            var specs = new Dictionary<string, AppSpec>(StringComparer.Ordinal);
            var deps = new Dictionary<string, List<(string Name, YamlNode At)>>(StringComparer.Ordinal);
            var order = new List<string>();
            var hostPorts = new Dictionary<(int, string), string>();
            foreach (var (k, v) in services.Children)
            {
                var name = Str(k, "services");
                var path = "services." + name;
                if (!IsValidName(name))
                    throw Error(k, path, $"'{name}' cannot be an app name (1-63 of a-z, 0-9 and '-', not starting or ending with '-')");
                if (specs.ContainsKey(name)) throw Error(k, path, "given twice");
                var (spec, after) = Service(v, name, path);
                foreach (var p in spec.Ports)
                    if (!hostPorts.TryAdd((p.Host, p.Protocol), name))
                        throw Error(v, path + ".ports", $"host port {p.Host}/{p.Protocol} is also published by service '{hostPorts[(p.Host, p.Protocol)]}'");
                specs[name] = spec;
                deps[name] = after;
                order.Add(name);
            }
            foreach (var (name, list) in deps)
                foreach (var (dep, at) in list)
                    if (!specs.ContainsKey(dep)) throw Error(at, $"services.{name}.depends_on", $"no service named '{dep}' in this file");

            // Dependencies first, file order otherwise (a depth-first walk in file order); a cycle names its path.
            var result = new List<AppSpec>(order.Count);
            var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1: on the path, 2: placed
            var stack = new List<string>();
            void Visit(string n)
            {
                if (state.TryGetValue(n, out var st))
                {
                    if (st == 2) return;
                    var cycle = string.Join(" → ", stack.Skip(stack.IndexOf(n)).Append(n));
                    var at = deps[stack[^1]].First(d => d.Name == n).At;
                    throw Error(at, $"services.{stack[^1]}.depends_on", $"dependency cycle: {cycle}");
                }
                state[n] = 1;
                stack.Add(n);
                foreach (var (d, _) in deps[n]) Visit(d);
                stack.RemoveAt(stack.Count - 1);
                state[n] = 2;
                result.Add(specs[n]);
            }
            foreach (var n in order) Visit(n);
            return result;
        }

        private (AppSpec Spec, List<(string, YamlNode)> DependsOn) Service(YamlNode node, string name, string path)
        {
            var f = Fields(Map(node, path), path, ComposeService, compose: true);
            if (Opt(f, "image") is not { } imageNode)
                throw Error(node, path + ".image", "required (building images, 'build:', is not supported: build and push the image, then name it here)");
            var image = Str(imageNode, path + ".image");
            if (ImageName.Problem(image) is { } bad) throw Error(imageNode, path + ".image", $"'{image}' is not a valid image reference: it {bad}");
            var deploy = Opt(f, "deploy") is { } d ? Fields(Map(d, path + ".deploy"), path + ".deploy", ["replicas"], compose: true) : null;
            var spec = new AppSpec
            {
                Name = name,
                Image = image,
                Command = Opt(f, "command") is { } c ? Words(c, path + ".command") : null,
                Entrypoint = Opt(f, "entrypoint") is { } ep ? Words(ep, path + ".entrypoint") : null,
                Env = Opt(f, "environment") is { } env ? ComposeEnv(env, path + ".environment") : new Dictionary<string, string>(),
                Ports = Opt(f, "ports") is { } p ? ComposePorts(p, path + ".ports") : [],
                Mounts = Opt(f, "volumes") is { } vol ? ComposeVolumes(vol, path + ".volumes") : [],
                Replicas = deploy is not null && Opt(deploy, "replicas") is { } r ? Int(r, path + ".deploy.replicas", 0, 1000) : 1,
                Restart = Opt(f, "restart") is { } rs ? ComposeRestart(rs, path + ".restart") : "never",
                Healthcheck = Opt(f, "healthcheck") is { } hc ? ComposeHealthcheck(hc, path + ".healthcheck") : null,
            };
            return (spec, Opt(f, "depends_on") is { } dep ? DependsOn(dep, path + ".depends_on") : []);
        }

        /// <summary>Compose's <c>environment</c>: a mapping or a list of KEY=VALUE; a bare KEY (taken from the
        /// shell of whoever runs compose) has no meaning on a node, so it is an error.</summary>
        private Dictionary<string, string> ComposeEnv(YamlNode n, string field)
        {
            if (n is YamlSequenceNode seq)
            {
                var i = 0;
                foreach (var item in seq.Children)
                {
                    var s = Str(item, $"{field}[{i}]");
                    if (!s.Contains('=')) throw Error(item, $"{field}[{i}]", $"'{s}' has no value: a variable taken from the caller's environment is not supported, write {s}=VALUE");
                    i++;
                }
            }
            else if (n is YamlMappingNode map)
            {
                foreach (var (k, v) in map.Children)
                    if (IsNullNode(v)) throw Error(k, $"{field}.{Str(k, field)}", "has no value: a variable taken from the caller's environment is not supported");
            }
            try { return Env(n); }
            catch (StatefileException e) { throw Renamed(e, "env", field); }
        }

        /// <summary>Compose's short (<c>"8080:80"</c>, <c>"53:53/udp"</c>) and long (<c>{target, published, protocol}</c>) port syntax.</summary>
        private List<PortSpec> ComposePorts(YamlNode n, string field)
        {
            Count(n);
            if (n is not YamlSequenceNode seq) throw Error(n, field, "expected a list of ports");
            var list = new List<PortSpec>();
            var i = 0;
            foreach (var item in seq.Children)
            {
                var at = $"{field}[{i++}]";
                if (item is YamlMappingNode m)
                {
                    var f = Fields(m, at, ["target", "published", "protocol", "mode"], compose: true);
                    if (Opt(f, "target") is not { } t) throw Error(item, at + ".target", "required");
                    if (Opt(f, "published") is not { } pub) throw Error(item, at + ".published", "required: a port without a host port would be published on a random one, which is not supported");
                    if (Opt(f, "mode") is { } mode && Str(mode, at + ".mode") != "host") throw Error(mode, at + ".mode", "only 'host' is supported");
                    list.Add(new PortSpec
                    {
                        Container = Int(t, at + ".target", 1, 65535),
                        Host = Int(pub, at + ".published", 1, 65535),
                        Protocol = Opt(f, "protocol") is { } pr ? OneOf(pr, at + ".protocol", ["tcp", "udp"]) : "tcp",
                    });
                    continue;
                }
                var s = Scalar(item, at, "a port mapping such as \"8080:80\"");
                var body = s.Split('/')[0];
                if (body.Count(ch => ch == ':') != 1)
                    throw Error(item, at, body.Contains(':')
                        ? $"'{s}': a host address or port range is not supported, write \"HOST:CONTAINER\""
                        : $"'{s}': a container port alone is published on a random host port, which is not supported; write \"{body}:{body}\"");
                if (body.Contains('-')) throw Error(item, at, $"'{s}': port ranges are not supported");
                list.Add(Port(item, at));
            }
            var seen = new HashSet<(int, string)>();
            foreach (var p in list)
                if (!seen.Add((p.Host, p.Protocol))) throw Error(n, field, $"host port {p.Host}/{p.Protocol} published twice");
            return list;
        }

        /// <summary>
        /// Compose's <c>volumes</c> of a service: bind mounts only — short <c>"./data:/data:ro"</c> (a host path:
        /// absolute, or relative to the file) or long <c>{type: bind, source, target, read_only}</c>. A named volume
        /// needs a volume driver tio does not have: an error.
        /// </summary>
        private List<MountSpec> ComposeVolumes(YamlNode n, string field)
        {
            Count(n);
            if (n is not YamlSequenceNode seq) throw Error(n, field, "expected a list of volumes");
            var list = new List<MountSpec>();
            var targets = new HashSet<string>(StringComparer.Ordinal);
            var i = 0;
            foreach (var item in seq.Children)
            {
                var at = $"{field}[{i++}]";
                string source, target;
                bool ro = false;
                YamlNode srcNode, dstNode;
                if (item is YamlMappingNode m)
                {
                    var f = Fields(m, at, ["type", "source", "target", "read_only"], compose: true);
                    if (Opt(f, "type") is not { } type) throw Error(item, at + ".type", "required (bind)");
                    if (Str(type, at + ".type") != "bind") throw Error(type, at + ".type", "only bind mounts are supported (named volumes and tmpfs are not)");
                    srcNode = Opt(f, "source") ?? throw Error(item, at + ".source", "required");
                    dstNode = Opt(f, "target") ?? throw Error(item, at + ".target", "required");
                    source = SourcePath(srcNode, at + ".source");
                    target = AbsolutePath(dstNode, at + ".target");
                    ro = Opt(f, "read_only") is { } r && Bool(r, at + ".read_only");
                }
                else
                {
                    var s = Str(item, at);
                    var parts = s.Split(':');
                    if (parts.Length is < 2 or > 3)
                        throw Error(item, at, parts.Length == 1
                            ? $"'{s}': an anonymous volume is not supported, write SOURCE:TARGET"
                            : $"'{s}': expected SOURCE:TARGET[:ro]");
                    if (!(parts[0].StartsWith('/') || parts[0].StartsWith('.')))
                        throw Error(item, at, $"'{parts[0]}' is a named volume, which is not supported: use a host path (/srv/data or ./data)");
                    if (parts.Length == 3 && parts[2] is not ("ro" or "rw"))
                        throw Error(item, at, $"'{parts[2]}': only the ro and rw options are supported");
                    ro = parts.Length == 3 && parts[2] == "ro";
                    srcNode = dstNode = item;
                    source = SourcePath(parts[0], item, at);
                    target = AbsolutePath(parts[1], item, at);
                }
                if (target == "/") throw Error(dstNode, at, "cannot mount over the container's root");
                if (!targets.Add(target)) throw Error(dstNode, at, $"'{target}' is mounted twice");
                list.Add(new MountSpec { Source = source, Target = target, ReadOnly = ro });
            }
            return list;
        }

        /// <summary>Compose's restart policies; <c>unless-stopped</c> is <c>always</c> (an app removed with tio - stays removed).</summary>
        private string ComposeRestart(YamlNode n, string field)
        {
            var s = Str(n, field);
            return s switch
            {
                "no" or "\"no\"" => "never",
                "always" or "unless-stopped" => "always",
                "on-failure" => "on-failure",
                _ when s.StartsWith("on-failure:", StringComparison.Ordinal) => throw Error(n, field, $"'{s}': a retry limit is not supported (tio restarts with back-off)"),
                _ => throw Error(n, field, $"'{s}' is not one of no, always, on-failure, unless-stopped"),
            };
        }

        /// <summary>Compose's <c>healthcheck</c>: <c>test</c> (CMD, CMD-SHELL, NONE or a shell string), <c>interval</c>, <c>retries</c>, <c>disable</c>.</summary>
        private HealthcheckSpec? ComposeHealthcheck(YamlNode n, string field)
        {
            var f = Fields(Map(n, field), field, ["test", "interval", "retries", "disable"], compose: true);
            if (Opt(f, "disable") is { } dis && Bool(dis, field + ".disable")) return null;
            if (Opt(f, "test") is not { } test) throw Error(n, field + ".test", "required");
            List<string> command;
            if (test is YamlScalarNode) command = ["/bin/sh", "-c", Str(test, field + ".test")];
            else
            {
                var words = Words(test, field + ".test");
                command = words[0] switch
                {
                    "NONE" => [],
                    "CMD" when words.Count > 1 => words[1..],
                    "CMD-SHELL" when words.Count == 2 => ["/bin/sh", "-c", words[1]],
                    _ => throw Error(test, field + ".test", "expected [\"CMD\", args...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]"),
                };
                if (command.Count == 0) return null;
            }
            long interval = 30_000;
            if (Opt(f, "interval") is { } iv)
            {
                var s = Scalar(iv, field + ".interval", "a duration such as 10s");
                interval = ParseComposeDuration(s) ?? throw Error(iv, field + ".interval", $"expected a duration such as 500ms, 10s, 1m30s, got '{s}'");
                if (interval < 100) throw Error(iv, field + ".interval", "must be at least 100ms");
            }
            return new HealthcheckSpec
            {
                Command = command,
                IntervalMs = interval,
                Retries = Opt(f, "retries") is { } r ? Int(r, field + ".retries", 1, 100) : 3,
            };
        }

        /// <summary><c>depends_on</c>: a list of service names, or a mapping of names to <c>{condition: service_started}</c>.</summary>
        private List<(string, YamlNode)> DependsOn(YamlNode n, string field)
        {
            Count(n);
            var list = new List<(string, YamlNode)>();
            if (n is YamlSequenceNode seq)
            {
                var i = 0;
                foreach (var item in seq.Children) list.Add((Str(item, $"{field}[{i++}]"), item));
            }
            else if (n is YamlMappingNode map)
            {
                foreach (var (k, v) in map.Children)
                {
                    var dep = Str(k, field);
                    var f = Fields(Map(v, $"{field}.{dep}"), $"{field}.{dep}", ["condition"], compose: true);
                    if (Opt(f, "condition") is { } c && Str(c, $"{field}.{dep}.condition") != "service_started")
                        throw Error(c, $"{field}.{dep}.condition", "only service_started is supported (the order in which apps are created)");
                    list.Add((dep, k));
                }
            }
            else throw Error(n, field, "expected a list of service names");
            return list;
        }

        private static StatefileException Renamed(StatefileException e, string from, string to)
            => e.Field is { } f && f.StartsWith(from, StringComparison.Ordinal)
                ? new StatefileException(e.File, e.Line, e.Column, to + f[from.Length..], e.Problem, e)
                : e;
    }

    /// <summary>A Go-style duration as Compose writes them (<c>1m30s</c>, <c>500ms</c>, <c>10s</c>, a bare number of
    /// seconds) in milliseconds; null when invalid.</summary>
    public static long? ParseComposeDuration(string s)
    {
        s = s.Trim();
        if (s.Length == 0) return null;
        if (long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var bare)) return bare <= long.MaxValue / 2000 ? bare * 1000 : null;
        long total = 0;
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == start || i - start > 9) return null;
            long v = long.Parse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
            long mult;
            if (s.AsSpan(i).StartsWith("ms")) { mult = 1; i += 2; }
            else if (i < s.Length && s[i] == 'h') { mult = 3_600_000; i++; }
            else if (i < s.Length && s[i] == 'm') { mult = 60_000; i++; }
            else if (i < s.Length && s[i] == 's') { mult = 1000; i++; }
            else return null;
            total += v * mult;
            if (total > 365L * 24 * 3_600_000) return null;
        }
        return total;
    }
}
