// The floor of a container start on this host (issue 16): the least a runtime must do to run a program in new
// namespaces on a new root, measured from C with nothing else in the way. Each iteration: clone(2) with new mount,
// pid, net, ipc, uts and cgroup namespaces; in the child, mounts made private, the root bind-mounted onto itself (or,
// with --overlay, an overlayfs of it with a fresh upper and work directory, as an image container gets), chdir,
// pivot_root(".", "."), the old root detached, then execve of the program; the parent waits for its exit. What a real
// runtime adds on top (cgroups, /proc, /dev, capabilities, seccomp, the state record) is not here: this is the floor.
//
//   start-floor ROOTFS [--overlay] [-n ITERATIONS] [-- PROGRAM ARGS...]    (default: 200 iterations of /bin/true)
// Prints the median, minimum and maximum wall time of one start (clone → exit observed), in ms.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *rootfs;
static char mnt[PATH_MAX], upper[PATH_MAX], work[PATH_MAX];
static int overlay;
static char **prog;

static void die(const char *what) {
    fprintf(stderr, "start-floor: %s: %s\n", what, strerror(errno));
    _exit(127);
}

static int child(void *arg) {
    (void)arg;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("making / private");
    if (overlay) {
        char opts[3 * PATH_MAX + 64];
        snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", rootfs, upper, work);
        if (mount("overlay", mnt, "overlay", 0, opts) != 0) die("mounting the overlay");
    } else if (mount(rootfs, mnt, NULL, MS_BIND | MS_REC, NULL) != 0) die("bind-mounting the root");
    if (chdir(mnt) != 0) die("chdir to the new root");
    if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
    if (umount2(".", MNT_DETACH) != 0) die("detaching the old root");
    if (chdir("/") != 0) die("chdir /");
    char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    execve(prog[0], prog, env);
    die("execve");
    return 127;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int n = 200;
    static char *def[] = {"/bin/true", NULL};
    prog = def;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--overlay")) overlay = 1;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--")) { if (i + 1 < argc) prog = &argv[i + 1]; break; }
        else if (!rootfs && argv[i][0] != '-') rootfs = argv[i];
        else { fprintf(stderr, "usage: start-floor ROOTFS [--overlay] [-n N] [-- PROGRAM ARGS...]\n"); return 2; }
    }
    if (!rootfs || n <= 0) { fprintf(stderr, "usage: start-floor ROOTFS [--overlay] [-n N] [-- PROGRAM ARGS...]\n"); return 2; }
    char tmpl[] = "/tmp/start-floor.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) die("mkdtemp");
    snprintf(mnt, sizeof mnt, "%s/rootfs", dir);
    if (mkdir(mnt, 0755) != 0) die("mkdir rootfs");
    double *ms = calloc(n, sizeof *ms);
    static char stack[256 * 1024];
    int failed = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (overlay) { // a fresh writable layer per start, as each image container gets its own
            snprintf(upper, sizeof upper, "%s/upper%d", dir, i);
            snprintf(work, sizeof work, "%s/work%d", dir, i);
            if (mkdir(upper, 0755) != 0 || mkdir(work, 0700) != 0) die("mkdir upper/work");
        }
        int pid = clone(child, stack + sizeof stack,
                        CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD, NULL);
        if (pid < 0) die("clone");
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        ms[i] = now_ms() - t0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
        if (overlay) { // overlayfs leaves work/work behind; the upper stays empty for /bin/true
            char ww[PATH_MAX + 8];
            snprintf(ww, sizeof ww, "%s/work", work);
            rmdir(ww); rmdir(work); rmdir(upper);
        }
    }
    rmdir(mnt);
    rmdir(dir);
    qsort(ms, n, sizeof *ms, cmp);
    printf("start-floor%s: %d starts of %s: median %.2f ms, min %.2f, max %.2f, failed %d\n",
           overlay ? " (overlay)" : "", n, prog[0], ms[n / 2], ms[0], ms[n - 1], failed);
    free(ms);
    return failed ? 1 : 0;
}
