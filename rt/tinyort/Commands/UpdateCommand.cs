using System.CommandLine;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort update [--resources FILE|-] [--memory M] [--memory-swap M] [--memory-reservation M] [--cpu-shares N]
/// [--cpu-period US] [--cpu-quota US] [--pids-limit N] ID</c> (runc): new limits for a running container.
/// containerd's shim passes an OCI <c>linux.resources</c> object on stdin (<c>--resources -</c>, for
/// <c>docker update</c>); the flags override its members.
/// </summary>
internal static class UpdateCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var resources = new Option<string?>("--resources", "-r") { Description = "A JSON file with an OCI linux.resources object ('-': stdin)" };
        var memory = new Option<string?>("--memory") { Description = "Memory limit (bytes, or with k/m/g)" };
        var swap = new Option<string?>("--memory-swap") { Description = "Memory plus swap limit (bytes, or with k/m/g)" };
        var reservation = new Option<string?>("--memory-reservation") { Description = "Memory soft limit (bytes, or with k/m/g)" };
        var shares = new Option<ulong?>("--cpu-shares") { Description = "CPU shares (relative weight)" };
        var period = new Option<ulong?>("--cpu-period") { Description = "CPU CFS period in microseconds" };
        var quota = new Option<long?>("--cpu-quota") { Description = "CPU CFS quota in microseconds (-1: none)" };
        var pids = new Option<long?>("--pids-limit") { Description = "Maximum number of processes" };
        var cmd = new Command("update", "Update the resource limits of a running container") { id, resources, memory, swap, reservation, shares, period, quota, pids };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var res = new SpecResources();
            if (r.GetValue(resources) is { } src)
            {
                byte[] json;
                try { json = src == "-" ? ReadStdin() : File.ReadAllBytes(src); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"--resources {src}: {e.Message}"); }
                res = ContainerControl.ParseResources(json, "--resources " + src);
            }
            if (r.GetValue(memory) is { } m) (res.Memory ??= new()).Limit = RunOptions.ParseMemory(m);
            if (r.GetValue(swap) is { } s) (res.Memory ??= new()).Swap = s == "-1" ? -1 : RunOptions.ParseMemory(s);
            if (r.GetValue(reservation) is { } mr) (res.Memory ??= new()).Reservation = RunOptions.ParseMemory(mr);
            if (r.GetValue(shares) is { } sh) (res.Cpu ??= new()).Shares = sh;
            if (r.GetValue(period) is { } p) (res.Cpu ??= new()).Period = p;
            if (r.GetValue(quota) is { } q) (res.Cpu ??= new()).Quota = q;
            if (r.GetValue(pids) is { } pl) res.Pids = new SpecPids { Limit = pl };
            ContainerControl.Update(RuntimeRoot.Resolve(r.GetValue(root)), r.GetValue(id)!, res, w => Console.Error.WriteLine("tinyort: warning: " + w));
            return 0;
        }));
        return cmd;
    }

    private static byte[] ReadStdin()
    {
        using var stdin = Console.OpenStandardInput();
        using var ms = new MemoryStream();
        stdin.CopyTo(ms);
        return ms.ToArray();
    }
}
