using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Builds a container's <see cref="SetupPlan"/> from its <see cref="InitConfig"/>: the one place where the order of
/// a container's set-up is written down. The parent builds it to choose the back-end (and the direct start runs it);
/// init builds the same plan from the configuration it receives and applies it.
/// </summary>
internal static class ContainerPlan
{
    /// <summary>The plan of <paramref name="c"/>.</summary>
    public static SetupPlan For(InitConfig c)
    {
        var spec = c.Spec;
        var linux = spec.Linux!;
        var proc = spec.Process!;
        var plan = new SetupPlan();
        var steps = plan.Steps;
        bool newNet = false, newCgroupNs = false, userNs = false, mountNs = false;
        foreach (var ns in linux.Namespaces ?? [])
        {
            if (ns.Type == "mount") mountNs = true;
            if (!string.IsNullOrEmpty(ns.Path))
            {
                // The pid namespace is entered around the clone; the others by the child's first rows.
                if (ns.Type == "pid") plan.PidNamespacePath = ns.Path;
                else plan.Launch.Add(new JoinNamespaceStep(ns.Type, ns.Path, Array.Find(Bundle.NamespaceTypes, t => t.Type == ns.Type).Flag));
            }
            else if (ns.Type == "cgroup") newCgroupNs = true;
            else if (ns.Type == "network") newNet = true;
            else if (ns.Type == "user") userNs = true;
        }

        if (userNs) steps.Add(new NewUserNamespaceStep());
        steps.Add(new UmaskStep(0));
        if (c.ExecFifo is not null) steps.Add(new OpenExecFifoStep());
        if (newCgroupNs) steps.Add(new UnshareCgroupStep());
        steps.Add(new NotDumpableStep());
        // Before the capability drop (it needs CAP_SYS_RESOURCE in the host's user namespace, so never in a user
        // namespace of the container's own); it survives exec (Linux ≥ 6.4, ksm_execve).
        if (!userNs && MemoryMergeStep.Requested(spec)) steps.Add(new MemoryMergeStep());

        bool hooks = HasHooks(spec.Hooks) || c.PauseBeforePivot || Hooks.Any(c.CreateContainerHooks) || Hooks.Any(c.StartContainerHooks);
        if (mountNs)
        {
            steps.Add(new RootSlaveStep());
            steps.Add(new RootfsStep(c));
            bool devTmpfs = false;
            foreach (var m in spec.Mounts ?? [])
            {
                steps.Add(m.Type is "cgroup" or "cgroup2" ? new CgroupMountStep(c, m) : new MountStep(m));
                if (m.Destination.TrimEnd('/') == "/dev" && m.Type is "tmpfs" or "devtmpfs") devTmpfs = true;
            }
            if (devTmpfs) steps.Add(new DevNodesStep());
            foreach (var d in linux.Devices ?? []) steps.Add(new DeviceStep(d));
            if (hooks) steps.Add(new HooksBeforePivotStep());
            steps.Add(new PivotRootStep(c.Rootfs));
        }
        else
        {
            // Sharing the host's mount namespace: mounting anything would change the host's mount table.
            if (hooks) steps.Add(new HooksBeforePivotStep());
            steps.Add(new ChrootStep(c.Rootfs));
        }

        if (!string.IsNullOrEmpty(spec.Hostname)) steps.Add(new HostnameStep(spec.Hostname, true));
        if (!string.IsNullOrEmpty(spec.Domainname)) steps.Add(new HostnameStep(spec.Domainname, false));
        if (newNet) steps.Add(new LoopbackStep());
        foreach (var (k, v) in linux.Sysctl ?? []) steps.Add(new SysctlStep(k, v));
        if (mountNs)
        {
            // The restricting steps come after init wrote what it must (sysctls live under the read-only /proc/sys).
            foreach (var p in linux.MaskedPaths ?? []) steps.Add(new MaskStep(p));
            foreach (var p in linux.ReadonlyPaths ?? []) steps.Add(new ReadonlyPathStep(p));
            if (spec.Root!.Readonly) steps.Add(new ReadonlyRootStep());
            var prop = MountOptions.RootPropagation(linux.RootfsPropagation);
            if (prop != (Linux.Libc.MS_SLAVE | Linux.Libc.MS_REC)) steps.Add(new RootPropagationStep(prop));
        }
        if (proc.OomScoreAdj is { } adj) steps.Add(new OomScoreAdjStep(adj));
        steps.Add(new SetsidStep());
        if (proc.Rlimits is { Count: > 0 } rl) steps.Add(new RlimitsStep(rl));
        var env = proc.Env ?? [];
        steps.Add(new ResolveProgramStep(proc.Args![0], env));
        steps.Add(new CwdStep(proc.Cwd!));
        steps.Add(new CloseOnExecStep());

        var user = proc.User ?? new SpecUser();
        var caps = CapabilitySets.FromSpec(proc.Capabilities);
        bool seccomp = c.SeccompProgram is { Length: > 0 };
        if (seccomp && !proc.NoNewPrivileges) steps.Add(new SeccompStep(c.SeccompProgram!, c.SeccompFlags, late: false));
        steps.Add(new BoundingSetStep(caps));
        steps.Add(new IdsStep(user, keepCaps: true));
        steps.Add(new CapabilitiesStep(caps));
        if (proc.NoNewPrivileges) steps.Add(new NoNewPrivsStep());
        steps.Add(new UmaskStep((int)(user.Umask ?? 0x12 /* 0022 */)));

        if (proc.Terminal || c.Terminal) steps.Add(new TerminalStep());
        steps.Add(new ReadyStep());
        if (hooks) steps.Add(new StartContainerHooksStep());
        steps.Add(new SignalsStep(resetSigpipe: false));
        if (seccomp && proc.NoNewPrivileges) steps.Add(new SeccompStep(c.SeccompProgram!, c.SeccompFlags, late: true));
        steps.Add(new ExecStep(proc.Args, env));
        return plan;
    }

    private static bool HasHooks(SpecHooks? h) => h is not null && (h.Prestart?.Count > 0 || h.CreateRuntime?.Count > 0
        || h.CreateContainer?.Count > 0 || h.StartContainer?.Count > 0 || h.Poststart?.Count > 0 || h.Poststop?.Count > 0);
}
