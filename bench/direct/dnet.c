// dnet: the direct network benchmark's and tests' traffic tool. One binary, both ends:
//   dnet serve tcp PORT | serve unix PATH        accept connections; each starts with one byte: 'S' sink, 'E' echo
//   dnet stream tcp HOST:PORT | unix PATH  STREAMS SECONDS   -> "gbps G"   (bytes accepted by the sender's kernel)
//   dnet rtt tcp HOST:PORT | unix PATH  SIZE COUNT            -> "p50_us A p99_us B"
//   dnet check tcp HOST:PORT BYTES                             echo BYTES in 1 KiB messages, verify them -> "ok N"
//   dnet shm-serve FILE                                         the far end of a shared-memory ring pair
//   dnet shm-stream FILE SECONDS | shm-rtt FILE SIZE COUNT
//   dnet pipe-src SECONDS (to stdout) | dnet pipe-sink (from stdin) -> "gbps G";  dnet pipe-rtt SIZE COUNT
// Prints "ready" on stdout once a server listens. Built by bench/direct.sh and by the tests (gcc -O2 -pthread).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)
static void die(const char *what) { perror(what); exit(1); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int full(int fd, void *b, size_t n, int wr) {
    for (size_t d = 0; d < n;) {
        ssize_t r = wr ? write(fd, (char *)b + d, n - d) : read(fd, (char *)b + d, n - d);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        d += r;
    }
    return 0;
}

static int dial(const char *kind, const char *where) {
    int fd;
    if (!strcmp(kind, "unix")) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, where, sizeof a.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (void *)&a, sizeof a)) die("connect unix");
    } else {
        char host[64]; strncpy(host, where, 63); host[63] = 0;
        char *colon = strrchr(host, ':'); if (!colon) die("HOST:PORT");
        *colon = 0;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
        inet_pton(AF_INET, host, &a.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (void *)&a, sizeof a)) die("connect tcp");
    }
    return fd;
}

static void *serve_one(void *arg) {
    int fd = (int)(intptr_t)arg, one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char mode, *buf = malloc(CHUNK);
    if (full(fd, &mode, 1, 0) == 0)
        for (;;) {
            ssize_t n = read(fd, buf, CHUNK);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            if (mode == 'E' && full(fd, buf, n, 1)) break;
        }
    free(buf); close(fd);
    return NULL;
}

static int serve(const char *kind, const char *where) {
    int l;
    if (!strcmp(kind, "unix")) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, where, sizeof a.sun_path - 1);
        unlink(where);
        l = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(l, (void *)&a, sizeof a)) die("bind unix");
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(where))};
        l = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1; setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (void *)&a, sizeof a)) die("bind tcp");
    }
    if (listen(l, 64)) die("listen");
    printf("ready\n"); fflush(stdout);
    while (1) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        pthread_t t; pthread_create(&t, NULL, serve_one, (void *)(intptr_t)c); pthread_detach(t);
    }
    return 0;
}

struct stream { const char *kind, *where; double until; unsigned long long bytes; };
static void *stream_one(void *arg) {
    struct stream *s = arg;
    int fd = dial(s->kind, s->where);
    char *buf = calloc(1, CHUNK);
    if (full(fd, "S", 1, 1)) die("write");
    while (now() < s->until) { if (full(fd, buf, CHUNK, 1)) die("write"); s->bytes += CHUNK; }
    close(fd); free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static void percentiles(double *us, int n) {
    qsort(us, n, sizeof *us, cmp);
    printf("p50_us %.1f p99_us %.1f\n", us[n / 2], us[(int)(n * 0.99)]);
}

// Shared memory: two single-producer single-consumer rings in one file (client→server, server→client).
#define RING (4u << 20)
struct ring { _Atomic uint64_t head, tail; char pad[48]; char data[RING]; };
struct shm { _Atomic uint32_t mode; char pad[60]; struct ring up, down; };
static void ring_wait(_Atomic uint64_t *v, uint64_t ok_from, int ge) {
    for (unsigned i = 0;; i++) {
        uint64_t x = atomic_load_explicit(v, memory_order_acquire);
        if (ge ? x >= ok_from : x <= ok_from) return;
        if (i > 2000) sched_yield(); else __builtin_ia32_pause();
    }
}
static void ring_put(struct ring *r, const char *b, size_t n) {
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h + n > RING) ring_wait(&r->tail, h + n - RING, 1); // room for n more bytes
    for (size_t d = 0; d < n;) {
        size_t at = (h + d) % RING, k = n - d < RING - at ? n - d : RING - at;
        memcpy(r->data + at, b + d, k); d += k;
    }
    atomic_store_explicit(&r->head, h + n, memory_order_release);
}
static void ring_get(struct ring *r, char *b, size_t n) {
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    ring_wait(&r->head, t + n, 1);
    for (size_t d = 0; d < n;) {
        size_t at = (t + d) % RING, k = n - d < RING - at ? n - d : RING - at;
        memcpy(b + d, r->data + at, k); d += k;
    }
    atomic_store_explicit(&r->tail, t + n, memory_order_release);
}
static struct shm *shm_open_file(const char *path, int create) {
    int fd = open(path, O_RDWR | (create ? O_CREAT : 0), 0600);
    if (fd < 0) die("open shm");
    if (create && ftruncate(fd, sizeof(struct shm))) die("ftruncate");
    void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    close(fd);
    return p;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) { fprintf(stderr, "usage: see the top of dnet.c\n"); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve") && argc == 4) return serve(argv[2], argv[3]);
    if (!strcmp(cmd, "stream") && argc == 6) {
        int n = atoi(argv[4]); double secs = atof(argv[5]);
        struct stream *s = calloc(n, sizeof *s); pthread_t *t = calloc(n, sizeof *t);
        double t0 = now();
        for (int i = 0; i < n; i++) { s[i] = (struct stream){argv[2], argv[3], t0 + secs, 0}; pthread_create(&t[i], NULL, stream_one, &s[i]); }
        unsigned long long total = 0;
        for (int i = 0; i < n; i++) { pthread_join(t[i], NULL); total += s[i].bytes; }
        printf("gbps %.2f\n", total * 8 / (now() - t0) / 1e9);
        return 0;
    }
    if ((!strcmp(cmd, "rtt") && argc == 6) || (!strcmp(cmd, "check") && argc == 5)) {
        int fd = dial(argv[2], argv[3]), check = !strcmp(cmd, "check");
        size_t size = check ? 1024 : (size_t)atoi(argv[4]);
        int count = check ? (int)(atoll(argv[4]) / 1024) : atoi(argv[5]);
        char *out = malloc(size), *in = malloc(size);
        double *us = calloc(count, sizeof *us);
        if (full(fd, "E", 1, 1)) die("write");
        for (int i = 0; i < count; i++) {
            for (size_t k = 0; k < size; k++) out[k] = (char)(i * 31 + k);
            double t = now();
            if (full(fd, out, size, 1) || full(fd, in, size, 0)) die("echo");
            us[i] = (now() - t) * 1e6;
            if (check && memcmp(in, out, size)) { fprintf(stderr, "echo differs at message %d\n", i); return 1; }
        }
        if (check) printf("ok %lld\n", (long long)count * 1024); else percentiles(us, count);
        return 0;
    }
    if (!strcmp(cmd, "shm-serve") && argc == 3) {
        struct shm *m = shm_open_file(argv[2], 1);
        char *buf = malloc(CHUNK);
        printf("ready\n"); fflush(stdout);
        ring_wait((_Atomic uint64_t *)&m->mode, 1, 1);
        uint32_t mode = atomic_load(&m->mode); // 1 sink of CHUNKs, 2+ echo of (mode-1) bytes
        for (;;) {
            size_t n = mode == 1 ? CHUNK : mode - 1;
            ring_get(&m->up, buf, n);
            if (mode != 1) ring_put(&m->down, buf, n);
        }
    }
    if ((!strcmp(cmd, "shm-stream") && argc == 4) || (!strcmp(cmd, "shm-rtt") && argc == 5)) {
        struct shm *m = shm_open_file(argv[2], 0);
        if (!strcmp(cmd, "shm-stream")) {
            char *buf = calloc(1, CHUNK); double t0 = now(), until = t0 + atof(argv[3]); unsigned long long total = 0;
            atomic_store(&m->mode, 1);
            while (now() < until) { ring_put(&m->up, buf, CHUNK); total += CHUNK; }
            ring_wait(&m->up.tail, atomic_load(&m->up.head), 1); // everything consumed
            printf("gbps %.2f\n", total * 8 / (now() - t0) / 1e9);
        } else {
            size_t size = atoi(argv[3]); int count = atoi(argv[4]);
            char *buf = calloc(1, size); double *us = calloc(count, sizeof *us);
            atomic_store(&m->mode, (uint32_t)size + 1);
            for (int i = 0; i < count; i++) { double t = now(); ring_put(&m->up, buf, size); ring_get(&m->down, buf, size); us[i] = (now() - t) * 1e6; }
            percentiles(us, count);
        }
        return 0;
    }
    if (!strcmp(cmd, "pipe-src") && argc == 3) {
        char *buf = calloc(1, CHUNK); double until = now() + atof(argv[2]);
        while (now() < until) if (full(1, buf, CHUNK, 1)) return 1;
        return 0;
    }
    if (!strcmp(cmd, "pipe-sink") && argc == 2) {
        char *buf = malloc(CHUNK); unsigned long long total = 0; double t0 = 0;
        for (ssize_t n; (n = read(0, buf, CHUNK)) > 0;) { if (!t0) t0 = now(); total += n; }
        printf("gbps %.2f\n", total * 8 / (now() - t0) / 1e9);
        return 0;
    }
    if (!strcmp(cmd, "pipe-rtt") && argc == 4) {
        size_t size = atoi(argv[2]); int count = atoi(argv[3]), up[2], down[2];
        if (pipe(up) || pipe(down)) die("pipe");
        char *buf = calloc(1, size);
        pid_t child = fork();
        if (child == 0) { close(up[1]); close(down[0]); for (;;) { if (full(up[0], buf, size, 0) || full(down[1], buf, size, 1)) _exit(0); } }
        double *us = calloc(count, sizeof *us);
        for (int i = 0; i < count; i++) { double t = now(); if (full(up[1], buf, size, 1) || full(down[0], buf, size, 0)) die("pipe"); us[i] = (now() - t) * 1e6; }
        close(up[1]); waitpid(child, NULL, 0);
        percentiles(us, count);
        return 0;
    }
    fprintf(stderr, "dnet: bad arguments (see the top of dnet.c)\n");
    return 2;
}
