using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;
using Tinyo.Rt.Setup;

namespace Tinyo.Rt.Tests.Setup;

/// <summary>An <see cref="ISetupCalls"/> that changes nothing and records every call ("Name arg…"), so a whole
/// container plan can run through the init back-end without root.</summary>
internal sealed class RecordingSetupCalls : ISetupCalls
{
    private int _nextFd = 100;
    public List<string> Calls { get; } = [];
    private void R(string s) => Calls.Add(s);

    public void Umask(int mask) => R("Umask " + Convert.ToString(mask, 8));
    public int OpenExecFifo(InitConfig c, int syncFd) { R("OpenExecFifo"); return _nextFd++; }
    public void UnshareCgroup() => R("UnshareCgroup");
    public void SetNotDumpable() => R("SetNotDumpable");
    public void SetMemoryMerge() => R("SetMemoryMerge");
    public void MakeRootSlave() => R("MakeRootSlave");
    public int MountRootfs(InitConfig c, int syncFd) { R("MountRootfs " + c.Rootfs); return _nextFd++; }
    public void BindMount(int root, string source, string dest, bool file, bool recursive) => R($"BindMount {source} {dest}{(recursive ? " rec" : "")}");
    public void MountFilesystem(int root, string source, string dest, string type, ulong flags, string? data) => R($"MountFilesystem {type} {dest}");
    public void Remount(int root, string dest, ulong flags) => R($"Remount {dest} 0x{flags:x}");
    public void ReadOnlyRecursive(int root, string dest) => R("ReadOnlyRecursive " + dest);
    public void SetPropagation(int root, string dest, ulong flag) => R($"SetPropagation {dest}");
    public void MountCgroup(InitConfig c, int root, SpecMount m) => R("MountCgroup " + m.Destination);
    public void CreateDefaultDevices(int root, bool userNs) => R("CreateDefaultDevices");
    public void CreateDevice(int root, SpecDevice d) => R("CreateDevice " + d.Path);
    public void RunHooksBeforePivot(InitConfig c, int syncFd) => R("RunHooksBeforePivot");
    public void PivotRoot(int root, string rootfs) => R("PivotRoot " + rootfs);
    public void Chroot(string rootfs) => R("Chroot " + rootfs);
    public void SetName(string name, bool host) => R((host ? "Hostname " : "Domainname ") + name);
    public void LoopbackUp() => R("LoopbackUp");
    public void WriteProcFile(string path, string value) => R($"WriteProcFile {path}={value}");
    public void Mask(string path) => R("Mask " + path);
    public void MakeReadonly(string path) => R("MakeReadonly " + path);
    public void RemountRootReadonly() => R("RemountRootReadonly");
    public void SetRootPropagation(ulong flags) => R("SetRootPropagation");
    public void Setsid() => R("Setsid");
    public void SetRlimits(List<SpecRlimit>? limits) => R("SetRlimits " + limits?.Count);
    public string ResolveProgram(string name, List<string> env) { R("ResolveProgram " + name); return "/bin/" + name; }
    public void EnterCwd(string cwd) => R("EnterCwd " + cwd);
    public void CloseOnExec() => R("CloseOnExec");
    public void LoadSeccomp(byte[] program, uint flags) => R("LoadSeccomp");
    public void DropBounding(CapabilitySets caps) => R("DropBounding");
    public void SetIds(SpecUser user, bool keepCaps) => R($"SetIds {user.Uid}:{user.Gid}{(keepCaps ? " keepcaps" : "")}");
    public void ApplyCapabilities(CapabilitySets caps) => R("ApplyCapabilities");
    public void SetNoNewPrivs() => R("SetNoNewPrivs");
    public void SetUpTerminal(InitConfig c, int syncFd) => R("SetUpTerminal");
    public void ReadyAndWait(InitConfig c, int syncFd, int fifoFd) => R("ReadyAndWait" + (fifoFd >= 0 ? " fifo" : ""));
    public void RunStartContainerHooks(InitConfig c) => R("RunStartContainerHooks");
    public void ResetIgnoredSignals() => R("ResetIgnoredSignals");
    public void Exec(string path, List<string> args, List<string> env) => R("Exec " + path);
}
