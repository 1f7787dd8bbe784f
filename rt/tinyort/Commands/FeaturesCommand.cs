using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort features</c>: runc's feature report (runtime-spec features.md) — the spec versions, hooks, mount
/// options, namespaces, capabilities, cgroup and seccomp support — so engines can ask what tinyort honours.
/// </summary>
internal static class FeaturesCommand
{
    public static Command Build()
    {
        var cmd = new Command("features", "Print the features this runtime supports (OCI features JSON)");
        cmd.SetAction(_ =>
        {
            using var stdout = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("ociVersionMin", "1.0.0");
                w.WriteString("ociVersionMax", "1.2.0");
                Strings(w, "hooks", ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
                Strings(w, "mountOptions",
                [
                    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "mand", "noatime", "nodev",
                    "nodiratime", "noexec", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private",
                    "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
                    "strictatime", "suid", "symfollow", "sync", "unbindable",
                ]);
                w.WriteStartObject("linux");
                Strings(w, "namespaces", ["cgroup", "ipc", "mount", "network", "pid", "uts"]);
                Strings(w, "capabilities", CapabilitySets.Names);
                w.WriteStartObject("cgroup");
                w.WriteBoolean("v1", true);
                w.WriteBoolean("v2", true);
                w.WriteBoolean("systemd", false);
                w.WriteBoolean("systemdUser", false);
                w.WriteEndObject();
                w.WriteStartObject("seccomp");
                w.WriteBoolean("enabled", true);
                Strings(w, "actions", ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]);
                Strings(w, "operators", ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]);
                Strings(w, "archs", ["SCMP_ARCH_X86_64"]);
                w.WriteEndObject();
                w.WriteStartObject("apparmor");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteStartObject("selinux");
                w.WriteBoolean("enabled", false);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartObject("annotations");
                w.WriteString("org.opencontainers.runtime-spec.features", "tinyort");
                w.WriteEndObject();
                w.WriteEndObject();
            }
            stdout.WriteByte((byte)'\n');
            return 0;
        });
        return cmd;
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
