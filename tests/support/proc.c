/* proc.c - test support: spawn a child with a stdout pipe, wait for a line,
 * signal and reap it (see proc.h). */
#include "proc.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *tproc_tether_bin(void)
{
    const char *b = getenv("TETHER_BIN");
    return b && *b ? b : "./build/tether";
}

int tproc_spawn(tproc_t *p, const char *const argv[], int flags)
{
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(fds[1], STDOUT_FILENO);
        if (flags & TPROC_QUIET) {
            int dn = open("/dev/null", O_WRONLY);
            if (dn >= 0) dup2(dn, STDERR_FILENO);
        }
        /* a test harness may have blocked signals; the child starts clean */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "tproc: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    return 0;
}

static int reap(tproc_t *p, int options)
{
    if (p->exited || p->pid <= 0) return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, options);
    if (r == p->pid) {
        p->exited = 1;
        p->status = st;
        return 1;
    }
    return 0;
}

int tproc_wait_line(tproc_t *p, const char *prefix, char *out, size_t outlen, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t plen = strlen(prefix);
    for (;;) {
        /* complete lines already buffered */
        char *nl;
        while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
            size_t ll = (size_t)(nl - p->buf);
            int match = ll >= plen && !memcmp(p->buf, prefix, plen);
            if (match && out && outlen) {
                size_t n = ll < outlen - 1 ? ll : outlen - 1;
                memcpy(out, p->buf, n);
                out[n] = 0;
            }
            memmove(p->buf, nl + 1, p->len - ll - 1);
            p->len -= ll + 1;
            if (match) return 0;
        }
        if (p->out_fd < 0) return -1;
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd pf = {p->out_fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        if (p->len == sizeof p->buf) p->len = 0; /* an over-long line: drop it */
        ssize_t n = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { /* EOF: the child closed stdout or exited */
            close(p->out_fd);
            p->out_fd = -1;
            return -1;
        }
        p->len += (size_t)n;
    }
}

int tproc_wait_listening(tproc_t *p, int timeout_ms)
{
    char line[512];
    /* a floor, not a timing check: a start that fails exits and is seen at
     * once; one that compiles many signal patterns under the sanitizers
     * (~4 s of CPU) took 40 s on a loaded two-core machine */
    if (timeout_ms < TPROC_START_MS) timeout_ms = TPROC_START_MS;
    if (tproc_wait_line(p, "listening on ", line, sizeof line, timeout_ms) < 0) return -1;
    const char *colon = strrchr(line, ':');
    if (!colon) return -1;
    int port = atoi(colon + 1);
    return port > 0 && port < 65536 ? port : -1;
}

int tproc_signal(tproc_t *p, int sig)
{
    if (p->pid <= 0 || p->exited) return 0;
    return kill(p->pid, sig);
}

int tproc_wait(tproc_t *p, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (!reap(p, WNOHANG)) {
        if (now_ms() >= deadline) return -1;
        usleep(2000);
    }
    return p->status;
}

int tproc_stop(tproc_t *p, int timeout_ms)
{
    if (p->pid > 0 && !p->exited) {
        tproc_signal(p, SIGTERM);
        if (tproc_wait(p, timeout_ms) < 0) {
            tproc_signal(p, SIGKILL);
            reap(p, 0);
        }
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
    return p->exited ? p->status : -1;
}

/* Free ports come from below the kernel's ephemeral range (32768-60999 by
 * default), so a port handed out here cannot be taken meanwhile as the
 * source port of an outgoing connection (the test's own clients, the
 * router's upstream calls) before its server binds it; and a port is not
 * handed out twice by one test process (two listeners of one config once
 * got the same port from consecutive bind(0) calls). */
enum { FREE_LO = 20000, FREE_HI = 32767, FREE_KEEP = 512 };

/* scripts/run-tests.sh runs several test binaries side by side and gives
 * each a job slot (TETHER_TEST_PORT_SLOT of TETHER_TEST_PORT_SLOTS): a
 * binary picks its ports from its slot's share of the range only, so two
 * binaries running at once never pick the same port. Without the variables
 * (a binary run alone) the whole range. */
static void free_range(int *lo, int *hi)
{
    const char *s = getenv("TETHER_TEST_PORT_SLOT"), *n = getenv("TETHER_TEST_PORT_SLOTS");
    int slot = s ? atoi(s) : 0, slots = n ? atoi(n) : 1;
    *lo = FREE_LO;
    *hi = FREE_HI;
    if (slots < 2 || slots > 64 || slot < 0 || slot >= slots) return;
    int share = (FREE_HI - FREE_LO + 1) / slots;
    *lo = FREE_LO + slot * share;
    *hi = *lo + share - 1;
}

static bool bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int tsupport_free_port(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int given[FREE_KEEP];
    static size_t n_given;
    static unsigned seed;
    pthread_mutex_lock(&mu);
    if (!seed) seed = (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms();
    int lo, hi, port = -1;
    free_range(&lo, &hi);
    for (int tries = 0; tries < 1000 && port < 0; tries++) {
        int p = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo + 1));
        bool seen = false;
        for (size_t i = 0; i < n_given && i < FREE_KEEP && !seen; i++)
            seen = given[i] == p;
        if (!seen && bindable(p)) port = p;
    }
    if (port > 0) given[n_given++ % FREE_KEEP] = port;
    pthread_mutex_unlock(&mu);
    return port;
}

long tproc_rss_kb(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}
