/*
 * A hostile container process for tinyo's escape suite. Built by the tests with `gcc -static` into the test bundle
 * and run as root inside a container with Docker's default security. Each argument names an attempt (some take
 * `=param`); each attempt prints exactly one line:
 *     NAME: blocked (ERRNO or reason)     the attempt failed
 *     NAME: ESCAPED (what happened)       the attempt succeeded: the test fails
 *     NAME: ok (...)                      a control that must work (allowed calls)
 * Nothing destructive is done even when an attempt succeeds (a writable sysrq-trigger is closed unwritten).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/bpf.h>

static void blocked(const char *name, int err) { printf("%s: blocked (%s)\n", name, strerrorname_np(err) ? strerrorname_np(err) : "?"); }
static void escaped(const char *name, const char *what) { printf("%s: ESCAPED (%s)\n", name, what); }
/* For calls that must fail: report errno, or ESCAPED when r >= 0. */
static void expect_fail(const char *name, long r, const char *what)
{
    if (r < 0) blocked(name, errno); else escaped(name, what);
}

static void try_open_write(const char *name, const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) { blocked(name, errno); return; }
    close(fd); /* never write: success alone is the failure */
    escaped(name, path);
}

static void host_root(const char *path)
{
    /* The host's files through /proc/N/root of any process we can see, or directly. */
    char buf[4096];
    if (access(path, F_OK) == 0) { escaped("hostroot", path); return; }
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)))
    {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(buf, sizeof buf, "/proc/%s/root%s", e->d_name, path);
        if (access(buf, F_OK) == 0) { escaped("hostroot", buf); closedir(d); return; }
    }
    if (d) closedir(d);
    blocked("hostroot", ENOENT);
}

static void do_ptrace(int pid)
{
    long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
    if (r == 0) { ptrace(PTRACE_DETACH, pid, 0, 0); escaped("ptrace", "attached to a host process"); return; }
    int err = errno;
    if (kill(pid, 0) == 0) { escaped("ptrace", "can signal a host process"); return; }
    blocked("ptrace", err);
}

static void capset_all(void)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0xff, sizeof d);
    if (syscall(SYS_capset, &h, d) == 0) { escaped("capset", "raised every capability"); return; }
    int err = errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0) == 0) { escaped("capset", "ambient CAP_SYS_ADMIN"); return; }
    blocked("capset", err);
}

static void module(void)
{
    int fd = open("/bin/probe", O_RDONLY | O_CLOEXEC);
    long r = syscall(SYS_finit_module, fd, "", 0);
    int err0 = errno;
    close(fd);
    errno = err0;
    if (r == 0) { escaped("module", "finit_module"); return; }
    int err = errno;
    if (syscall(SYS_init_module, "", 0, "") == 0) { escaped("module", "init_module"); return; }
    blocked("module", err);
}

static void bpf_map(void)
{
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_ARRAY; a.key_size = 4; a.value_size = 4; a.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
    expect_fail("bpf", fd, "created a BPF map");
}

/* The new mount API (Linux 5.2+): a second way to mount, which a filter that only knows mount(2) would let by. */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
static void newmount(void)
{
    long r = syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
    if (r >= 0) { close((int)r); escaped("newmount", "fsopen(tmpfs)"); return; }
    int err = errno;
    r = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
    if (r >= 0) { close((int)r); escaped("newmount", "open_tree(OPEN_TREE_CLONE)"); return; }
    r = syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, "/mnt", 0);
    if (r >= 0) { escaped("newmount", "move_mount"); return; }
    blocked("newmount", err);
}

static void keyctl_calls(void)
{
    /* keyctl(2) itself and request_key(2), besides add_key: the kernel keyring is not namespaced. */
    long r = syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, "tinyo");
    if (r >= 0) { escaped("keyctl_call", "joined a session keyring"); return; }
    int err = errno;
    r = syscall(SYS_request_key, "user", "tinyo", NULL, 0);
    if (r >= 0) { escaped("keyctl_call", "request_key found a key"); return; }
    if (errno != EPERM) { escaped("keyctl_call", "request_key reached the kernel"); return; }
    blocked("keyctl_call", err);
}

static void bpf_prog(void)
{
    /* A trivial socket filter program (r0 = 0; exit): loading any program is the verifier's attack surface. */
    struct bpf_insn insns[2];
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; insns[0].dst_reg = 0; insns[0].imm = 0;
    insns[1].code = BPF_JMP | BPF_EXIT;
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER; a.insn_cnt = 2; a.insns = (unsigned long)insns; a.license = (unsigned long)"GPL";
    long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
    expect_fail("bpf_prog", fd, "loaded a BPF program");
}

static void pidfd(int pid)
{
    long r = syscall(SYS_pidfd_open, pid, 0);
    if (r >= 0) { close((int)r); escaped("pidfd", "opened a pidfd of a host process"); return; }
    blocked("pidfd", errno);
}

/* Exits 0 when this process holds CAP_SYS_ADMIN (bit 21) in its effective or permitted set. */
static int has_sys_admin(void)
{
    char line[256];
    unsigned long long eff = 0, prm = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
    {
        sscanf(line, "CapEff: %llx", &eff);
        sscanf(line, "CapPrm: %llx", &prm);
    }
    if (f) fclose(f);
    return ((eff | prm) >> 21) & 1;
}

static void filecap(void)
{
    /* Raise capabilities through a file: CAP_SETFCAP is one of Docker's defaults, so root in the container can give
       a copy of this program file capabilities (CAP_SYS_ADMIN, effective) and exec it. The bounding set (and
       no_new_privs) must keep the exec'd program from getting it. */
    int in = open("/bin/probe", O_RDONLY | O_CLOEXEC);
    int out = open("/tmp/capprobe", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    char buf[65536];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
    close(in); close(out);
    struct { unsigned magic; struct { unsigned permitted, inheritable; } data[2]; } cap;
    memset(&cap, 0, sizeof cap);
    cap.magic = 0x02000000 /* VFS_CAP_REVISION_2 */ | 1 /* VFS_CAP_FLAGS_EFFECTIVE */;
    cap.data[0].permitted = 1u << 21; /* CAP_SYS_ADMIN */
    if (setxattr("/tmp/capprobe", "security.capability", &cap, sizeof cap, 0) != 0)
    {
        printf("filecap: blocked (setxattr %s)\n", strerrorname_np(errno));
        unlink("/tmp/capprobe");
        return;
    }
    pid_t c = fork();
    if (c == 0)
    {
        char *argv[] = { "/tmp/capprobe", "capcheck", NULL };
        execv(argv[0], argv);
        _exit(100 + errno);
    }
    int st = 0;
    waitpid(c, &st, 0);
    unlink("/tmp/capprobe");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) escaped("filecap", "exec'd a file capability to CAP_SYS_ADMIN");
    else if (WIFEXITED(st) && WEXITSTATUS(st) >= 100) printf("filecap: blocked (exec %s)\n", strerrorname_np(WEXITSTATUS(st) - 100));
    else printf("filecap: blocked (exec'd without the capability)\n");
}

/* CVE-2019-5736 from inside: for SECS seconds, grab /proc/PID/exe (O_PATH) of every other process that shows up
   in the container (e.g. the runtime re-executed through a "#!/proc/self/exe" script given to `exec`), then keep
   trying to reopen each for writing (it is busy while it runs; the attack waits for the runtime to exit). Never
   writes. Prints one line per distinct executable: "exe: DEV:INO LINK: blocked (ERRNO)" or "...: ESCAPED (...)". */
static void exewatch(int secs)
{
    struct { dev_t dev; ino_t ino; int fd, writable, err; char link[256]; } seen[32];
    int n = 0;
    struct stat self;
    stat("/proc/self/exe", &self);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
    {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)))
        {
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid()) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
            int fd = open(p, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            struct stat st;
            int known = fstat(fd, &st) != 0 || (st.st_dev == self.st_dev && st.st_ino == self.st_ino);
            for (int i = 0; i < n && !known; i++) known = seen[i].dev == st.st_dev && seen[i].ino == st.st_ino;
            if (known || n == 32) { close(fd); continue; }
            seen[n].dev = st.st_dev; seen[n].ino = st.st_ino; seen[n].fd = fd; seen[n].writable = 0; seen[n].err = 0;
            ssize_t l = readlink(p, seen[n].link, sizeof seen[n].link - 1);
            seen[n].link[l < 0 ? 0 : l] = 0;
            n++;
        }
        if (d) closedir(d);
        for (int i = 0; i < n; i++)
        {
            if (seen[i].writable) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/self/fd/%d", seen[i].fd);
            int w = open(p, O_WRONLY | O_CLOEXEC);
            if (w >= 0) { close(w); seen[i].writable = 1; } else seen[i].err = errno;
        }
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < secs);
    for (int i = 0; i < n; i++)
    {
        printf("exe: %lu:%lu %s: ", (unsigned long)seen[i].dev, (unsigned long)seen[i].ino, seen[i].link);
        if (seen[i].writable) printf("ESCAPED (opened for writing)\n");
        else printf("blocked (%s)\n", strerrorname_np(seen[i].err) ? strerrorname_np(seen[i].err) : "?");
        close(seen[i].fd);
    }
    printf("exewatch: done (%d)\n", n);
}

/* TOCTOU helper (never returns): keeps exchanging DIR (a directory) with a symlink to LINK, atomically, so that a
   runtime that checks DIR and then uses it by path may meet the symlink. */
static void swapper(char *spec)
{
    char *dir = spec, *link = strchr(spec, ',');
    if (!link) { printf("swapper: bad parameter\n"); return; }
    *link++ = 0;
    char spare[4096];
    snprintf(spare, sizeof spare, "%s.spare", dir);
    mkdir(dir, 0755);
    unlink(spare);
    if (symlink(link, spare) != 0) { printf("swapper: symlink: %s\n", strerrorname_np(errno)); return; }
    printf("swapper: running\n");
    for (;;) syscall(SYS_renameat2, AT_FDCWD, spare, AT_FDCWD, dir, 2 /* RENAME_EXCHANGE */);
}

static void fds(void)
{
    /* Every descriptor above stdio is a leak from the runtime (CVE-2024-21626 class). */
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char p[64], target[4096], what[4200];
    int self = d ? dirfd(d) : -1, leaked = 0;
    while (d && (e = readdir(d)))
    {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == self) continue;
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        snprintf(what, sizeof what, "fd %d -> %s", fd, target);
        escaped("fds", what);
        leaked = 1;
        break;
    }
    if (d) closedir(d);
    if (!leaked) printf("fds: blocked (none leaked)\n");
}

static void cwd_inside(void)
{
    /* Walk up from the cwd: the top must be our root, not a host directory. */
    struct stat root, cur, up;
    if (stat("/", &root) != 0) { blocked("cwd", errno); return; }
    int fd = open(".", O_PATH | O_CLOEXEC);
    if (fd < 0) { blocked("cwd", errno); return; }
    for (int i = 0; i < 4096; i++)
    {
        fstat(fd, &cur);
        int parent = openat(fd, "..", O_PATH | O_CLOEXEC);
        fstat(parent, &up);
        close(fd);
        fd = parent;
        if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino) break;
    }
    close(fd);
    if (cur.st_dev == root.st_dev && cur.st_ino == root.st_ino) printf("cwd: blocked (inside the root)\n");
    else escaped("cwd", "the working directory reaches a root that is not the container's");
}

static void chroot_escape(const char *path)
{
    /* The classic double chroot: chroot into a subdirectory while keeping a cwd above it, then walk up. */
    pid_t c = fork();
    if (c == 0)
    {
        mkdir("/tmp/jail", 0700);
        if (chroot("/tmp/jail") != 0) _exit(10 + errno);
        for (int i = 0; i < 64; i++) chdir("..");
        chroot(".");
        _exit(access(path, F_OK) == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) escaped("chroot", path);
    else if (WIFEXITED(st) && WEXITSTATUS(st) >= 10) blocked("chroot", WEXITSTATUS(st) - 10);
    else printf("chroot: blocked (stayed inside the root)\n");
}

static void blockdev(void)
{
    /* The disk holding our root filesystem, as a device node: CAP_MKNOD is a default capability, the devices
       cgroup must refuse to open it. */
    struct stat st;
    stat("/", &st);
    unlink("/tmp/disk");
    if (mknod("/tmp/disk", S_IFBLK | 0600, st.st_dev) != 0) { blocked("blockdev", errno); return; }
    int fd = open("/tmp/disk", O_RDONLY | O_CLOEXEC);
    unlink("/tmp/disk");
    if (fd >= 0) { close(fd); escaped("blockdev", "opened the host's disk"); return; }
    blocked("blockdev", errno);
}

static void kcore(void)
{
    char b[16];
    int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { blocked("kcore", errno); return; }
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n > 0) escaped("kcore", "read kernel memory"); else printf("kcore: blocked (masked, empty)\n");
}

static void forkbomb(void)
{
    pid_t kids[4096];
    int n = 0, err = 0;
    for (; n < 4096; n++)
    {
        pid_t p = fork();
        if (p == 0) { pause(); _exit(0); }
        if (p < 0) { err = errno; break; }
        kids[n] = p;
    }
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
    if (err) { char w[64]; snprintf(w, sizeof w, "%s after %d", strerrorname_np(err), n); printf("forkbomb: blocked (%s)\n", w); }
    else escaped("forkbomb", "4096 processes");
}

static void membomb(long mib)
{
    pid_t c = fork();
    if (c == 0)
    {
        for (long i = 0; i < mib; i++)
        {
            char *p = malloc(1 << 20);
            if (!p) _exit(2);
            memset(p, 1, 1 << 20);
        }
        _exit(0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) printf("membomb: blocked (killed by signal %d)\n", WTERMSIG(st));
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 2) printf("membomb: blocked (ENOMEM)\n");
    else escaped("membomb", "allocated past the limit");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++)
    {
        char *name = argv[i], *param = strchr(name, '=');
        if (param) *param++ = 0;
        if (!strcmp(name, "sysrq")) try_open_write(name, "/proc/sysrq-trigger");
        else if (!strcmp(name, "core_pattern")) try_open_write(name, "/proc/sys/kernel/core_pattern");
        else if (!strcmp(name, "sysfs")) try_open_write(name, "/sys/kernel/mm/transparent_hugepage/enabled");
        else if (!strcmp(name, "mount")) { mkdir("/mnt", 0755); expect_fail(name, mount("none", "/mnt", "tmpfs", 0, NULL), "mounted a tmpfs"); }
        else if (!strcmp(name, "umount")) expect_fail(name, umount2("/proc/sysrq-trigger", MNT_DETACH), "unmounted a read-only /proc path");
        else if (!strcmp(name, "unshare_user")) expect_fail(name, unshare(CLONE_NEWUSER), "made a user namespace");
        else if (!strcmp(name, "unshare_mount")) expect_fail(name, unshare(CLONE_NEWNS), "made a mount namespace");
        else if (!strcmp(name, "hostroot")) host_root(param);
        else if (!strcmp(name, "ptrace")) do_ptrace(atoi(param));
        else if (!strcmp(name, "capset")) capset_all();
        else if (!strcmp(name, "module")) module();
        else if (!strcmp(name, "keyctl")) expect_fail(name, syscall(SYS_add_key, "user", "tinyo", "x", 1, -2 /* process keyring */), "added a key");
        else if (!strcmp(name, "bpf")) bpf_map();
        else if (!strcmp(name, "ioperm")) expect_fail(name, ioperm(0x80, 1, 1), "got I/O port access");
        else if (!strcmp(name, "fds")) fds();
        else if (!strcmp(name, "cwd")) cwd_inside();
        else if (!strcmp(name, "chroot")) chroot_escape(param);
        else if (!strcmp(name, "blockdev")) blockdev();
        else if (!strcmp(name, "kcore")) kcore();
        else if (!strcmp(name, "forkbomb")) forkbomb();
        else if (!strcmp(name, "membomb")) membomb(atol(param));
        else if (!strcmp(name, "sysrq_sysctl")) try_open_write(name, "/proc/sys/kernel/sysrq");
        else if (!strcmp(name, "newmount")) newmount();
        else if (!strcmp(name, "keyctl_call")) keyctl_calls();
        else if (!strcmp(name, "bpf_prog")) bpf_prog();
        else if (!strcmp(name, "pidfd")) pidfd(atoi(param));
        else if (!strcmp(name, "filecap")) filecap();
        else if (!strcmp(name, "exewatch")) exewatch(atoi(param));
        else if (!strcmp(name, "swapper")) swapper(param);
        else if (!strcmp(name, "capcheck")) return has_sys_admin() ? 0 : 1;
        /* Controls and single calls for the seccomp tests. */
        else if (!strcmp(name, "personality"))
        {
            long r = personality(strtoul(param, NULL, 0));
            if (r == -1) blocked(name, errno); else printf("personality: ok\n");
        }
        else if (!strcmp(name, "x32"))
        {
            /* getpid through the x32 ABI's numbering: a filter that only knows x86-64 numbers must not let it by. */
            long r = syscall(0x40000000 | SYS_getpid);
            if (r >= 0) escaped(name, "reached the kernel through the x32 ABI"); else blocked(name, errno);
        }
        else if (!strcmp(name, "int80"))
        {
            /* The i386 ABI from a 64-bit process (int $0x80, i386 getpid = 20): a filter that does not check the
               architecture would judge it by the x86-64 table. */
            long r;
            __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory");
            if (r >= 0) escaped(name, "reached the kernel through the i386 ABI"); else blocked(name, (int)-r);
        }
        else if (!strcmp(name, "getpid")) printf("getpid: ok (%d)\n", getpid());
        else if (!strcmp(name, "fork"))
        {
            pid_t p = fork();
            if (p == 0) _exit(0);
            if (p < 0) { blocked(name, errno); continue; }
            waitpid(p, NULL, 0);
            printf("fork: ok\n");
        }
        else if (!strcmp(name, "seccomp_status"))
        {
            char line[256];
            FILE *f = fopen("/proc/self/status", "r");
            while (f && fgets(line, sizeof line, f))
                if (!strncmp(line, "Seccomp:", 8) || !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "CapEff:", 7) || !strncmp(line, "CapBnd:", 7))
                    fputs(line, stdout);
            if (f) fclose(f);
        }
        else printf("%s: unknown attempt\n", name);
    }
    return 0;
}
