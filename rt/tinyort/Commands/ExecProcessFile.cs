using System.Text;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// runc's <c>exec --process FILE</c>: the file holds an OCI <c>process</c> object (what conmon and containerd
/// write). Its args, env (replacing the container's), cwd, user ids and terminal flag are used; its capabilities,
/// rlimits, noNewPrivileges and labels are not: the exec'd process gets the container's (documented).
/// </summary>
internal static class ExecProcessFile
{
    public static void Apply(ExecOptions o, string path, bool hasCommand)
    {
        byte[] json;
        try { json = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"--process {path}: {e.Message}"); }
        // The process object is read by the spec reader, as the "process" member of an otherwise empty config.
        var wrapped = new byte[json.Length + 13];
        Encoding.ASCII.GetBytes("{\"process\":").CopyTo(wrapped, 0);
        json.CopyTo(wrapped, 11);
        wrapped[^2] = (byte)'}';
        wrapped[^1] = (byte)'\n';
        var p = Bundle.Parse(wrapped, "--process " + path).Process ?? throw new RtException($"--process {path}: no process object");
        if (hasCommand) throw new RtException("exec: give either --process or a command, not both");
        if (p.Args is not { Count: > 0 }) throw new RtException($"--process {path}: args is empty");
        o.Command = p.Args;
        if (p.Env is not null) { o.Env = p.Env; o.ReplaceEnv = true; }
        if (!string.IsNullOrEmpty(p.Cwd)) o.WorkingDir = p.Cwd;
        if (p.User is { } u) o.UserIds = u;
        if (p.Terminal) o.Tty = true;
    }
}
