using YamlDotNet.RepresentationModel;

namespace Tinyo.Api.Statefile;

// The direct network's fields: expose (a Unix socket by name), shm (shared memory regions), stdin (a pipe from
// another app's stdout). Kept apart from the rest of the reader; the checks that span documents (a pipe from an app
// that does not exist) run once every document is read.
public static partial class Statefile
{
    /// <summary>Longest socket file name: sun_path holds 108 bytes with its NUL, /run/tinyo/uds/ takes 15.</summary>
    public const int MaxSocketName = 92;

    private sealed partial class Reader
    {
        private readonly Dictionary<string, YamlNode> pipes = new(StringComparer.Ordinal);

        /// <summary><c>expose: unix</c> (the socket is APP.sock) or <c>expose: {unix: FILE}</c>.</summary>
        private string Expose(YamlNode n, string app)
        {
            Count(n);
            if (n is YamlScalarNode)
            {
                var kind = Str(n, "expose");
                if (kind != "unix") throw Error(n, "expose", $"'{kind}' is not a way to expose an app; the only one is unix (a socket at /run/tinyo/uds/{app}.sock)");
                return app + ".sock";
            }
            var f = Fields(Map(n, "expose"), "expose", ["unix"]);
            if (Opt(f, "unix") is not { } u) throw Error(n, "expose.unix", "required: the socket's file name, e.g. unix: api.sock");
            var name = Str(u, "expose.unix");
            if (name.Length == 0 || name is "." or ".." || name.Contains('/'))
                throw Error(u, "expose.unix", $"'{Printable.Escape(name)}' escapes the socket directory: a socket is one file name in /run/tinyo/uds, without '/' or '..'");
            if (name.Length > MaxSocketName) throw Error(u, "expose.unix", $"longer than {MaxSocketName} characters (a Unix socket path holds 108 bytes)");
            foreach (var c in name)
                if (Printable.Unsafe(c)) throw Error(u, "expose.unix", $"'{Printable.Escape(name)}' contains a control character");
            return name;
        }

        /// <summary><c>shm:</c> one {name, size} or a list of them; no region larger than the app's memory limit.</summary>
        private List<ShmSpec> Shm(YamlNode n, long memoryLimit)
        {
            Count(n);
            var items = n is YamlSequenceNode seq ? seq.Children : (IList<YamlNode>)[n];
            var list = new List<ShmSpec>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var i = 0;
            foreach (var item in items)
            {
                var path = n is YamlSequenceNode ? $"shm[{i++}]" : "shm";
                var f = Fields(Map(item, path), path, ["name", "size"]);
                if (Opt(f, "name") is not { } nameNode) throw Error(item, path + ".name", "required");
                if (Opt(f, "size") is not { } sizeNode) throw Error(item, path + ".size", "required: the most the region holds, e.g. size: 64m");
                var name = Str(nameNode, path + ".name");
                if (!IsValidName(name)) throw Error(nameNode, path + ".name", $"'{Printable.Escape(name)}' is not a valid region name (1-63 of a-z, 0-9 and '-')");
                if (!seen.Add(name)) throw Error(nameNode, path + ".name", $"'{name}' listed twice");
                var s = Scalar(sizeNode, path + ".size", "a size such as 64m");
                var size = ParseSize(s) ?? throw Error(sizeNode, path + ".size", $"expected a size such as 64m or 1g, got '{Printable.Escape(s)}'");
                if (size < 4096) throw Error(sizeNode, path + ".size", "must be at least 4k (one page)");
                if (memoryLimit > 0 && size > memoryLimit)
                    throw Error(sizeNode, path + ".size", $"{s} is larger than the app's memory limit ({memoryLimit >> 20} MiB): the region's pages are charged to it");
                list.Add(new ShmSpec { Name = name, SizeBytes = size });
            }
            if (list.Count == 0) throw Error(n, "shm", "empty list");
            return list;
        }

        /// <summary><c>stdin: {from: APP}</c>: the app is checked to exist once every document is read.</summary>
        private string StdinFrom(YamlNode n, string app)
        {
            var f = Fields(Map(n, "stdin"), "stdin", ["from"]);
            if (Opt(f, "from") is not { } from) throw Error(n, "stdin.from", "required: the app whose stdout this app reads");
            var source = Str(from, "stdin.from");
            if (!IsValidName(source)) throw Error(from, "stdin.from", $"'{Printable.Escape(source)}' is not a valid app name");
            if (source == app) throw Error(from, "stdin.from", "an app cannot read its own stdout");
            pipes[app] = from;
            return source;
        }

        /// <summary>The checks across documents: every pipe comes from an app of this file, one replica on each side.</summary>
        public void CheckPipes(IReadOnlyList<AppSpec> specs)
        {
            foreach (var spec in specs)
            {
                if (spec.StdinFrom is not { } from) continue;
                var at = pipes[spec.Name];
                AppSpec? source = null;
                foreach (var s in specs) if (s.Name == from) source = s;
                if (source is null)
                    throw Error(at, "stdin.from", $"no app '{from}' in this file" + (Suggest(from, specs.Select(s => s.Name)) is { } hint ? $" (did you mean '{hint}'?)" : ""));
                if (source.Replicas != 1 || spec.Replicas != 1)
                    throw Error(at, "stdin.from", $"a pipe joins one process to one process: '{from}' and '{spec.Name}' need replicas: 1");
                if (source.Node is { } a && spec.Node is { } b && a != b)
                    throw Error(at, "stdin.from", $"'{from}' is placed on node {a} and '{spec.Name}' on node {b}: a pipe joins two apps on one node");
            }
            foreach (var spec in specs)
            {
                int readers = 0;
                foreach (var s in specs) if (s.StdinFrom == spec.Name) readers++;
                if (readers > 1)
                    throw Error(pipes[specs.Last(s => s.StdinFrom == spec.Name).Name], "stdin.from", $"'{spec.Name}' already feeds another app's stdin: a pipe has one reader");
            }
        }
    }
}
