using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;

namespace Tinyo.Fuzz;

/// <summary>
/// The container init's configuration message, as read from the sync socket (up to 1 MiB). Hostile bytes must give
/// only <see cref="Tinyo.Rt.RtException"/>; beyond that, a decoded message must re-encode to bytes that decode and
/// re-encode to themselves (what init acts on survives the codec).
/// </summary>
internal static class InitConfigTarget
{
    public static void Run(byte[] input)
    {
        if (input.Length > 1 << 20) return; // init reads at most 1 MiB
        var c = InitConfigCodec.Decode(input);
        var once = InitConfigCodec.Encode(c);
        var twice = InitConfigCodec.Encode(InitConfigCodec.Decode(once));
        if (!once.AsSpan().SequenceEqual(twice)) throw new InvalidOperationException("init message does not round-trip");
    }

    /// <summary>Seed messages: what the runtime sends for a default container, and one using every field.</summary>
    public static IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var spec = DefaultSpec.Create(["/bin/sh", "-c", "echo hi"]);
        spec.Root!.Path = "/var/lib/tinyo/c1/rootfs";
        var program = SeccompCompiler.Compile(spec.Linux!.Seccomp!.Value).Program;
        yield return ("default", InitConfigCodec.Encode(new InitConfig
        {
            Id = "c1", Rootfs = spec.Root.Path, CgroupV2 = true, Spec = spec, SeccompProgram = program, SeccompFlags = 0,
        }));

        var rich = DefaultSpec.Create(["/app", "--flag"], "web");
        rich.Root!.Path = "/r";
        rich.Root.Readonly = true;
        rich.Process!.User = new SpecUser { Uid = 1000, Gid = 1000, Umask = 18 /* 022 */, AdditionalGids = [10, 20] };
        rich.Process.OomScoreAdj = 100;
        rich.Process.Capabilities!.Ambient = ["CAP_NET_BIND_SERVICE"];
        rich.Process.Rlimits!.Add(new SpecRlimit { Type = "RLIMIT_NPROC", Soft = 64, Hard = 128 });
        rich.Domainname = "example";
        rich.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "ro"] });
        rich.Linux!.Devices = [new SpecDevice { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 438 /* 0666 */, Uid = 0, Gid = 0 }];
        rich.Linux.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        rich.Linux.RootfsPropagation = "rslave";
        rich.Linux.Namespaces!.Find(n => n.Type == "network")!.Path = "/run/netns/x";
        yield return ("rich", InitConfigCodec.Encode(new InitConfig
        {
            Id = "web-1", Rootfs = "/r", ExecFifo = "/run/tinyo/web-1/exec.fifo", CgroupV2 = false,
            CgroupV1Hierarchies = ["cpu,cpuacct", "memory", "pids"], CgroupSubpaths = ["", "tinyo/web-1", "tinyo/web-1"], Spec = rich,
            OverlayLower = ["/layers/b", "/layers/a"], OverlayUpper = "/c/upper", OverlayWork = "/c/work",
            SeccompProgram = [6, 0, 0, 0, 0, 0, 0xff, 0x7f], SeccompFlags = 1,
        }));
    }
}
