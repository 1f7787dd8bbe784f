using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tinyo.Api.Statefile;

/// <summary>
/// Reads and validates statefiles: YAML documents, one container each — or a Compose file, whose services map onto
/// the same apps (<c>Statefile.Compose.cs</c>). The YAML is loaded with YamlDotNet's
/// representation model (the parser's node tree: no reflection, so NativeAOT-safe) and walked by hand, because the
/// fields are polymorphic (<c>command</c>: string or list; <c>port</c>: int, "H:C" or list; <c>env</c>: map or list)
/// and every error must name its exact <c>file:line:col</c>. Every failure is a <see cref="StatefileException"/>;
/// no YamlDotNet exception escapes.
/// </summary>
public static partial class Statefile
{
    /// <summary>Largest statefile accepted.</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>Most YAML nodes walked in one file: bounds alias expansion ("billion laughs") in node count.</summary>
    private const int MaxNodes = 100_000;

    /// <summary>
    /// Most characters of scalar text walked in one file, aliases counted each time they are used: bounds alias
    /// expansion in size. A 100 KB anchored scalar repeated 1,000 times is a 100 KB file but 100 MB of desired state;
    /// without aliases the walked text is never larger than the file, so this is the file's own limit.
    /// </summary>
    public const int MaxExpandedChars = MaxBytes;

    private static readonly string[] TopFields =
        ["name", "container", "command", "entrypoint", "env", "port", "mounts", "secrets", "replicas", "restart", "resources", "healthcheck", "net", "network",
         "expose", "shm", "stdin", "node", "nodes"];

    /// <summary>Reads a statefile from disk.</summary>
    public static IReadOnlyList<AppSpec> Load(string path)
        => Parse(ReadFile(path), path, Path.GetDirectoryName(Path.GetFullPath(path)));

    /// <summary>
    /// Reads a statefile's text: a regular file only (a FIFO would block the open, a device such as /dev/zero never
    /// ends), and at most <see cref="MaxBytes"/> + 1 bytes whatever its size claims (/proc files claim 0).
    /// </summary>
    public static string ReadFile(string path)
    {
        try
        {
            var kind = FileKinds.Of(path);
            if (kind == FileKind.Missing) throw new StatefileException(path, 0, 0, null, "no such file");
            if (kind == FileKind.Directory) throw new StatefileException(path, 0, 0, null, "is a directory, not a statefile");
            if (kind != FileKind.Regular) throw new StatefileException(path, 0, 0, null, "not a regular file (a pipe, device or socket); use - to read stdin");
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
            return ReadCapped(f, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StatefileException(path, 0, 0, null, e.Message, e);
        }
    }

    /// <summary>Reads a stream (a file or stdin) as UTF-8, refusing it once it is larger than <see cref="MaxBytes"/>.</summary>
    public static string ReadCapped(Stream s, string name)
    {
        var buf = new byte[MaxBytes + 1];
        var n = 0;
        int got;
        while (n < buf.Length && (got = s.Read(buf, n, buf.Length - n)) > 0) n += got;
        if (n > MaxBytes) throw new StatefileException(name, 0, 0, null, $"larger than {MaxBytes >> 20} MiB");
        return new UTF8Encoding(false).GetString(buf, 0, n);
    }

    /// <summary>
    /// Parses statefile text. <paramref name="file"/> is used in messages and gives the default name of a
    /// single-document file (its base name without .yml/.yaml). A relative mount source (<c>./www</c>) is resolved
    /// against <paramref name="baseDir"/>, as Compose does; without a base directory it is an error.
    /// </summary>
    public static IReadOnlyList<AppSpec> Parse(string text, string file, string? baseDir = null)
    {
        if (baseDir is not null && !Path.IsPathRooted(baseDir)) throw new StatefileException(file, 0, 0, null, $"base directory '{baseDir}' is not absolute");
        if (Encoding.UTF8.GetByteCount(text) > MaxBytes) throw new StatefileException(file, 0, 0, null, $"larger than {MaxBytes >> 20} MiB");
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var msg = e.InnerException is { } inner && e.Message.Contains("exception", StringComparison.OrdinalIgnoreCase) ? inner.Message : e.Message;
            throw new StatefileException(file, e.Start.Line, e.Start.Column, null, "invalid YAML: " + Clean(msg), e);
        }
        catch (Exception e)
        {
            // YamlDotNet's parser throws other types on some odd inputs (found by fuzzing): still one clear error.
            throw new StatefileException(file, 0, 0, null, "invalid YAML: " + Clean(e.Message), e);
        }
        var docs = new List<YamlDocument>();
        foreach (var d in stream.Documents)
        {
            if (d.RootNode is YamlScalarNode s && IsNull(s)) continue; // empty document (e.g. a trailing ---)
            docs.Add(d);
        }
        if (docs.Count == 0) throw new StatefileException(file, 0, 0, null, "no container defined (the file is empty)");
        var reader = new Reader(file, baseDir);
        // A Compose file (docker-compose.yml): one document whose top level has `services:` (Statefile.Compose.cs).
        if (docs.Count == 1 && IsCompose(docs[0].RootNode)) return reader.Compose((YamlMappingNode)docs[0].RootNode);
        var specs = new List<AppSpec>(docs.Count);
        var names = new Dictionary<string, Mark>(StringComparer.Ordinal);
        foreach (var d in docs)
        {
            var spec = reader.Document(d.RootNode, docs.Count == 1 ? DefaultName(file) : null);
            if (names.TryGetValue(spec.Name, out var first))
                throw reader.Error(d.RootNode, "name", $"'{spec.Name}' is defined twice (first at line {first.Line})");
            names[spec.Name] = d.RootNode.Start;
            specs.Add(spec);
        }
        reader.CheckPipes(specs);
        return specs;
    }

    /// <summary>The name a single-document file gives its container: its base name without .yml/.yaml.</summary>
    public static string? DefaultName(string file)
    {
        var n = Path.GetFileName(file);
        foreach (var ext in (string[])[".yml", ".yaml"])
            if (n.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) return n[..^ext.Length];
        return n.Length > 0 ? n : null;
    }

    /// <summary>True for a valid app, secret, user or net name: 1–63 of [a-z0-9-], not starting or ending with '-'.</summary>
    public static bool IsValidName(string s)
    {
        if (s.Length is 0 or > 63 || s[0] == '-' || s[^1] == '-') return false;
        foreach (var c in s)
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-')) return false;
        return true;
    }

    /// <summary>The closest candidate within a small edit distance, for "did you mean" hints.</summary>
    public static string? Suggest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestD = int.MaxValue;
        foreach (var c in candidates)
        {
            var w = word.ToLowerInvariant();
            var d = Distance(w, c);
            var prefix = 0;
            while (prefix < w.Length && prefix < c.Length && w[prefix] == c[prefix]) prefix++;
            if (prefix >= 4) d = Math.Min(d, 2); // "retry" → "retries": a shared stem is as good as a typo
            if (d < bestD) (best, bestD) = (c, d);
        }
        return bestD <= Math.Max(2, word.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    private static string Clean(string m) => m.Replace('\n', ' ').Replace('\r', ' ').Trim();

    internal static bool IsNull(YamlScalarNode s)
        => s.Style == ScalarStyle.Plain && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

    /// <summary>
    /// Walks the documents of one file; knows the file for messages and counts nodes and scalar text over the whole
    /// file (an alias counts each time it is used), so no document and no number of documents expands past the limits.
    /// </summary>
    private sealed partial class Reader(string file, string? baseDir)
    {
        private int nodes;
        private long chars;

        public StatefileException Error(YamlNode at, string? field, string problem)
            => new(file, at.Start.Line, at.Start.Column, field, problem);

        private void Count(YamlNode n)
        {
            if (++nodes > MaxNodes) throw Error(n, null, $"too many YAML nodes (more than {MaxNodes}; alias expansion?)");
            if (n is YamlScalarNode { Value: { } v } && (chars += v.Length + 1) > MaxExpandedChars)
                throw Error(n, null, $"the document expands to more than {MaxExpandedChars >> 20} MiB of text (an alias repeated too often?)");
        }

        /// <summary>A NUL cannot be passed to execve or a file system: refused here, with its position.</summary>
        private string NoNul(YamlNode n, string field, string s)
            => s.Contains('\0') ? throw Error(n, field, "contains a NUL byte") : s;

        public AppSpec Document(YamlNode root, string? defaultName)
        {
            var map = Map(root, null);
            var f = Fields(map, null, TopFields);
            string name;
            if (f.TryGetValue("name", out var nameNode) && !IsNullNode(nameNode))
            {
                name = Str(nameNode, "name");
                if (!IsValidName(name)) throw Error(nameNode, "name", $"'{name}' is not a valid name (1-63 of a-z, 0-9 and '-', not starting or ending with '-')");
            }
            else if (defaultName is not null)
            {
                if (!IsValidName(defaultName))
                    throw Error(root, "name", $"the file name gives '{defaultName}', which is not a valid name; set 'name:' (1-63 of a-z, 0-9 and '-')");
                name = defaultName;
            }
            else throw Error(root, "name", "required when a file holds several containers");

            if (!f.TryGetValue("container", out var imageNode) || IsNullNode(imageNode))
                throw Error(root, "container", "required: the image to run, e.g. container: \"alpine:latest\"");
            var image = Str(imageNode, "container");
            if (ImageName.Problem(image) is { } bad) throw Error(imageNode, "container", $"'{image}' is not a valid image reference: it {bad}");

            var net = Opt(f, "net");
            var netName = net is null ? null : Str(net, "net");
            if (netName is not null && !IsValidName(netName))
                throw Error(net!, "net", $"'{netName}' is not a valid cluster name (1-63 of a-z, 0-9 and '-', not starting or ending with '-')");
            var network = Opt(f, "network") is { } nw ? OneOf(nw, "network", ["cluster", "none", "host"]) : null;
            if (network is "none" or "host" && net is not null)
                throw Error(net, "net", $"an app with network: {network} is on no cluster; drop net: or network:");
            var resources = Opt(f, "resources") is { } res ? Resources(res) : null;
            var node = Opt(f, "node");
            var nodeName = node is null ? null : NodeName(node);
            var nodes = Opt(f, "nodes");
            return new AppSpec
            {
                Node = nodeName,
                NodeLabels = nodes is null ? null : NodeLabels(nodes),
                PlacementAt = (node ?? nodes) is { } at ? (at.Start.Line, at.Start.Column) : default,
                Net = netName,
                Network = network == "cluster" ? null : network,
                NetAt = net is null ? default : (net.Start.Line, net.Start.Column),
                Name = name,
                Image = image,
                Command = Opt(f, "command") is { } c ? Words(c, "command") : null,
                Entrypoint = Opt(f, "entrypoint") is { } ep ? Words(ep, "entrypoint") : null,
                Env = Opt(f, "env") is { } env ? Env(env) : new Dictionary<string, string>(),
                Ports = Opt(f, "port") is { } p ? Ports(p) : [],
                Mounts = Opt(f, "mounts") is { } m ? Mounts(m) : [],
                Secrets = Opt(f, "secrets") is { } s ? Secrets(s) : [],
                Replicas = Opt(f, "replicas") is { } r ? Int(r, "replicas", 0, 1000) : 1,
                Restart = Opt(f, "restart") is { } rs ? OneOf(rs, "restart", ["always", "on-failure", "never"]) : "always",
                Resources = resources,
                Healthcheck = Opt(f, "healthcheck") is { } hc ? Healthcheck(hc) : null,
                UnixSocket = Opt(f, "expose") is { } ex ? Expose(ex, name) : null,
                Shm = Opt(f, "shm") is { } shm ? Shm(shm, resources?.MemoryBytes ?? 0) : null,
                StdinFrom = Opt(f, "stdin") is { } si ? StdinFrom(si, name) : null,
            };
        }

        private static bool IsNullNode(YamlNode n) => n is YamlScalarNode s && IsNull(s);

        private static YamlNode? Opt(Dictionary<string, YamlNode> f, string key)
            => f.TryGetValue(key, out var n) && !IsNullNode(n) ? n : null;

        private YamlMappingNode Map(YamlNode n, string? field)
        {
            Count(n);
            return n as YamlMappingNode ?? throw Error(n, field, field is null
                ? "a container is described by a mapping (e.g. container: \"alpine:latest\")"
                : "expected a mapping");
        }

        /// <summary>The mapping's fields by name; unknown and duplicate keys are errors.</summary>
        private Dictionary<string, YamlNode> Fields(YamlMappingNode map, string? path, string[] known, bool compose = false)
        {
            var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                Count(k);
                if (k is not YamlScalarNode ks || ks.Value is null)
                    throw Error(k, path, "keys must be plain names");
                var key = ks.Value;
                var full = path is null ? key : $"{path}.{key}";
                if (Array.IndexOf(known, key) < 0)
                {
                    var hint = Suggest(key, known);
                    if (compose)
                        throw Error(k, full, $"not supported by tio (supported here: {string.Join(", ", known)})" + (hint is null ? "" : $"; did you mean '{hint}'?"));
                    throw Error(k, full, hint is null
                        ? $"unknown field (known: {string.Join(", ", known)})"
                        : $"unknown field (did you mean '{hint}'?)");
                }
                if (!result.TryAdd(key, v)) throw Error(k, full, "given twice");
            }
            return result;
        }

        private string Str(YamlNode n, string field)
        {
            Count(n);
            if (n is not YamlScalarNode s || s.Value is null) throw Error(n, field, "expected a string");
            return NoNul(n, field, s.Value);
        }

        private int Int(YamlNode n, string field, int min, int max)
        {
            var s = Scalar(n, field, "an integer");
            if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
                throw Error(n, field, $"expected an integer from {min} to {max}, got '{s}'");
            return v;
        }

        private bool Bool(YamlNode n, string field)
        {
            var s = Scalar(n, field, "true or false");
            return s switch
            {
                "true" or "True" or "TRUE" => true,
                "false" or "False" or "FALSE" => false,
                _ => throw Error(n, field, $"expected true or false, got '{s}'"),
            };
        }

        private string Scalar(YamlNode n, string field, string what)
        {
            Count(n);
            if (n is not YamlScalarNode s || s.Value is null) throw Error(n, field, $"expected {what}");
            return NoNul(n, field, s.Value);
        }

        private string OneOf(YamlNode n, string field, string[] values)
        {
            var s = Str(n, field);
            if (Array.IndexOf(values, s) >= 0) return s;
            var hint = Suggest(s, values);
            throw Error(n, field, $"'{s}' is not one of {string.Join(", ", values)}" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
        }

        /// <summary>A string (split like a shell would, as Compose does) or a list of strings.</summary>
        private List<string> Words(YamlNode n, string field)
        {
            Count(n);
            List<string> words;
            if (n is YamlSequenceNode seq)
            {
                words = [];
                var i = 0;
                foreach (var item in seq.Children) words.Add(Str(item, $"{field}[{i++}]"));
            }
            else if (n is YamlScalarNode { Value: { } text })
            {
                words = ShellWords.Split(NoNul(n, field, text)) ?? throw Error(n, field, "unterminated quote");
            }
            else throw Error(n, field, "expected a string or a list of strings");
            if (words.Count == 0) throw Error(n, field, "empty");
            return words;
        }

        /// <summary><c>node: NAME</c>: the one node the app's replicas run on (a node name as <c>tio node ls</c> shows it).</summary>
        private string NodeName(YamlNode n)
        {
            var name = Str(n, "node");
            if (!IsNodeName(name))
                throw Error(n, "node", $"'{Printable.Escape(name)}' is not a valid node name (1-253 of a-z, A-Z, 0-9, '.', '_' and '-')");
            return name;
        }

        /// <summary><c>nodes: {LABEL: VALUE, …}</c>: the replicas run only on nodes carrying every one of these labels.</summary>
        private Dictionary<string, string> NodeLabels(YamlNode n)
        {
            Count(n);
            if (n is not YamlMappingNode map || map.Children.Count == 0)
                throw Error(n, "nodes", "expected a mapping of node labels, e.g. nodes: {disk: ssd}");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                var key = Str(k, "nodes");
                if (!IsNodeName(key) || key.Length > 63) throw Error(k, $"nodes.{Printable.Escape(key)}", "a label name is 1-63 of a-z, A-Z, 0-9, '.', '_' and '-'");
                var value = IsNullNode(v) ? "" : Scalar(v, $"nodes.{key}", "a string, number or boolean");
                if (value.Length > 253 || value.Any(char.IsControl)) throw Error(v, $"nodes.{key}", "a label value is at most 253 printable characters");
                if (!labels.TryAdd(key, value)) throw Error(k, $"nodes.{key}", "given twice");
            }
            return labels;
        }

        private static bool IsNodeName(string s)
            => s.Length is > 0 and <= 253 && s.AsSpan().IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < 0;

        private Dictionary<string, string> Env(YamlNode n)
        {
            Count(n);
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            if (n is YamlMappingNode map)
            {
                foreach (var (k, v) in map.Children)
                {
                    var key = Str(k, "env");
                    CheckEnvName(k, key);
                    var value = IsNullNode(v) ? "" : Scalar(v, $"env.{key}", "a string, number or boolean");
                    if (!env.TryAdd(key, value)) throw Error(k, $"env.{key}", "given twice");
                }
            }
            else if (n is YamlSequenceNode seq)
            {
                var i = 0;
                foreach (var item in seq.Children)
                {
                    var field = $"env[{i++}]";
                    var s = Str(item, field);
                    var eq = s.IndexOf('=');
                    if (eq < 0) throw Error(item, field, $"expected KEY=VALUE, got '{s}'");
                    var key = s[..eq];
                    CheckEnvName(item, key);
                    if (!env.TryAdd(key, s[(eq + 1)..])) throw Error(item, field, $"{key} given twice");
                }
            }
            else throw Error(n, "env", "expected a mapping (KEY: value) or a list of KEY=VALUE");
            return env;
        }

        private void CheckEnvName(YamlNode at, string key)
        {
            var ok = key.Length > 0 && !char.IsAsciiDigit(key[0]);
            foreach (var c in key) ok &= char.IsAsciiLetterOrDigit(c) || c == '_';
            if (!ok) throw Error(at, "env", $"'{key}' is not a valid variable name (letters, digits and '_')");
        }

        private List<PortSpec> Ports(YamlNode n)
        {
            Count(n);
            var list = new List<PortSpec>();
            if (n is YamlSequenceNode seq)
            {
                var i = 0;
                foreach (var item in seq.Children) list.Add(Port(item, $"port[{i++}]"));
            }
            else list.Add(Port(n, "port"));
            var seen = new HashSet<(int, string)>();
            foreach (var p in list)
                if (!seen.Add((p.Host, p.Protocol))) throw Error(n, "port", $"host port {p.Host}/{p.Protocol} published twice");
            return list;
        }

        private PortSpec Port(YamlNode n, string field)
        {
            var s = Scalar(n, field, "a port (8080) or \"HOST:CONTAINER\"");
            var proto = "tcp";
            var slash = s.IndexOf('/');
            if (slash >= 0)
            {
                proto = s[(slash + 1)..];
                if (proto is not ("tcp" or "udp")) throw Error(n, field, $"protocol must be tcp or udp, got '{proto}'");
                s = s[..slash];
            }
            var colon = s.IndexOf(':');
            var host = colon < 0 ? s : s[..colon];
            var cont = colon < 0 ? s : s[(colon + 1)..];
            if (!ushort.TryParse(host, NumberStyles.None, CultureInfo.InvariantCulture, out var h) || h == 0
                || !ushort.TryParse(cont, NumberStyles.None, CultureInfo.InvariantCulture, out var c) || c == 0)
                throw Error(n, field, $"expected a port 1-65535 or \"HOST:CONTAINER\", got '{Scalar(n, field, "")}'");
            return new PortSpec { Host = h, Container = c, Protocol = proto };
        }

        private List<MountSpec> Mounts(YamlNode n)
        {
            Count(n);
            if (n is not YamlSequenceNode seq) throw Error(n, "mounts", "expected a list of {source, target}");
            var list = new List<MountSpec>();
            var targets = new HashSet<string>(StringComparer.Ordinal);
            var i = 0;
            foreach (var item in seq.Children)
            {
                var path = $"mounts[{i++}]";
                var f = Fields(Map(item, path), path, ["source", "target", "readonly"]);
                if (!f.TryGetValue("source", out var src) || IsNullNode(src)) throw Error(item, path + ".source", "required");
                if (!f.TryGetValue("target", out var dst) || IsNullNode(dst)) throw Error(item, path + ".target", "required");
                var source = SourcePath(src, path + ".source");
                var target = AbsolutePath(dst, path + ".target");
                if (target == "/") throw Error(dst, path + ".target", "cannot mount over the container's root");
                if (!targets.Add(target)) throw Error(dst, path + ".target", $"'{target}' is mounted twice");
                list.Add(new MountSpec
                {
                    Source = source,
                    Target = target,
                    ReadOnly = Opt(f, "readonly") is { } ro && Bool(ro, path + ".readonly"),
                });
            }
            return list;
        }

        /// <summary>A host path: absolute, or relative to the statefile's directory.</summary>
        private string SourcePath(YamlNode n, string field) => SourcePath(Str(n, field), n, field);

        /// <summary><see cref="SourcePath(YamlNode, string)"/> of a part of a scalar (Compose's "SRC:DST").</summary>
        private string SourcePath(string s, YamlNode n, string field)
        {
            if (s.StartsWith('/') || baseDir is null) return AbsolutePath(s, n, field);
            if (s.Length == 0 || s.Contains('\0')) throw Error(n, field, "invalid path");
            return Path.GetFullPath(Path.Combine(baseDir, s));
        }

        /// <summary>An absolute path without '..' parts, normalised (no duplicate or trailing slashes).</summary>
        private string AbsolutePath(YamlNode n, string field) => AbsolutePath(Str(n, field), n, field);

        private string AbsolutePath(string s, YamlNode n, string field)
        {
            if (!s.StartsWith('/')) throw Error(n, field, $"must be an absolute path, got '{s}'");
            if (s.Contains('\0')) throw Error(n, field, "contains a NUL byte");
            var parts = s.Split('/', StringSplitOptions.RemoveEmptyEntries);
            foreach (var p in parts)
                if (p == "..") throw Error(n, field, $"must not contain '..', got '{s}'");
            return "/" + string.Join('/', parts.Where(p => p != "."));
        }

        private List<SecretRef> Secrets(YamlNode n)
        {
            Count(n);
            if (n is not YamlSequenceNode seq) throw Error(n, "secrets", "expected a list of secret names or {name, env}");
            var list = new List<SecretRef>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var i = 0;
            foreach (var item in seq.Children)
            {
                var path = $"secrets[{i++}]";
                string name;
                string? env = null;
                YamlNode nameNode;
                if (item is YamlMappingNode m)
                {
                    var f = Fields(m, path, ["name", "env"]);
                    if (!f.TryGetValue("name", out nameNode!) || IsNullNode(nameNode)) throw Error(item, path + ".name", "required");
                    name = Str(nameNode, path + ".name");
                    if (Opt(f, "env") is { } e)
                    {
                        env = Str(e, path + ".env");
                        CheckEnvName(e, env);
                    }
                }
                else
                {
                    nameNode = item;
                    name = Str(item, path);
                }
                if (!IsValidName(name)) throw Error(nameNode, path, $"'{name}' is not a valid secret name (1-63 of a-z, 0-9 and '-')");
                if (!seen.Add(name)) throw Error(nameNode, path, $"'{name}' listed twice");
                list.Add(new SecretRef { Name = name, Env = env });
            }
            return list;
        }

        private ResourceSpec Resources(YamlNode n)
        {
            var f = Fields(Map(n, "resources"), "resources", ["memory", "cpus", "pids"]);
            long mem = 0;
            double cpus = 0;
            var pids = 0;
            if (Opt(f, "memory") is { } m)
            {
                var s = Scalar(m, "resources.memory", "a size such as 512m or 1g");
                mem = ParseSize(s) ?? throw Error(m, "resources.memory", $"expected a size such as 512m, 1g or a number of bytes, got '{s}'");
                if (mem < 4 << 20) throw Error(m, "resources.memory", "must be at least 4m");
            }
            if (Opt(f, "cpus") is { } c)
            {
                var s = Scalar(c, "resources.cpus", "a number of cores");
                if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out cpus) || cpus <= 0 || cpus > 4096)
                    throw Error(c, "resources.cpus", $"expected a positive number of cores such as 0.5, got '{s}'");
            }
            if (Opt(f, "pids") is { } p) pids = Int(p, "resources.pids", 1, 4_194_304);
            return new ResourceSpec { MemoryBytes = mem, Cpus = cpus, Pids = pids };
        }

        private HealthcheckSpec Healthcheck(YamlNode n)
        {
            var f = Fields(Map(n, "healthcheck"), "healthcheck", ["command", "interval", "retries"]);
            if (Opt(f, "command") is not { } cmd) throw Error(n, "healthcheck.command", "required");
            var words = cmd is YamlScalarNode { Value: not null } ? ["/bin/sh", "-c", Str(cmd, "healthcheck.command")] : Words(cmd, "healthcheck.command");
            long interval = 30_000;
            if (Opt(f, "interval") is { } iv)
            {
                var s = Scalar(iv, "healthcheck.interval", "a duration such as 10s");
                interval = ParseDuration(s) ?? throw Error(iv, "healthcheck.interval", $"expected a duration such as 500ms, 10s, 1m, got '{s}'");
                if (interval < 100) throw Error(iv, "healthcheck.interval", "must be at least 100ms");
            }
            return new HealthcheckSpec
            {
                Command = words,
                IntervalMs = interval,
                Retries = Opt(f, "retries") is { } r ? Int(r, "healthcheck.retries", 1, 100) : 3,
            };
        }
    }

    /// <summary>Parses 1024, 512k, 512m, 1g (also kb/mb/gb, any case); null when invalid.</summary>
    public static long? ParseSize(string s)
    {
        s = s.Trim().ToLowerInvariant();
        if (s.EndsWith('b') && s.Length > 1 && !char.IsAsciiDigit(s[^2])) s = s[..^1];
        long mult = 1;
        if (s.Length > 0 && s[^1] is 'k' or 'm' or 'g' or 't')
        {
            mult = s[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, _ => 1L << 40 };
            s = s[..^1];
        }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0 || v > long.MaxValue / mult) return null;
        return v * mult;
    }

    /// <summary>Parses 500ms, 10s, 5m, 1h (or a bare number of seconds) into milliseconds; null when invalid.</summary>
    public static long? ParseDuration(string s)
    {
        s = s.Trim();
        long mult = 1000;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { mult = 1; s = s[..^2]; }
        else if (s.EndsWith('s')) s = s[..^1];
        else if (s.EndsWith('m')) { mult = 60_000; s = s[..^1]; }
        else if (s.EndsWith('h')) { mult = 3_600_000; s = s[..^1]; }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v > long.MaxValue / mult / 2) return null;
        return v * mult;
    }
}
