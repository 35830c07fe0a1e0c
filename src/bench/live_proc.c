/* live_proc.c - spawn, watch and stop the live benchmark's child processes
 * (see live_proc.h). */
#include "bench/live_proc.h"
#include "core/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int live_proc_spawn(live_proc_t *p, const char *const argv[], int keep_stderr, int cpu, char *err,
                    size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        /* the benchmark may block these; the child must see them */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0); /* a terminal ^C reaches the benchmark only; it stops us */
        if (cpu >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(126);
        }
        dup2(pfd[1], 1);
        if (!keep_stderr) {
            int dn = open("/dev/null", O_WRONLY);
            if (dn >= 0) dup2(dn, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    p->pid = pid;
    p->out_fd = pfd[0];
    return 0;
}

int live_proc_wait_listening(live_proc_t *p, int timeout_ms)
{
    static const char pre[] = "listening on ";
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        /* complete lines already buffered */
        char *start = p->buf;
        for (;;) {
            char *nl = memchr(start, '\n', p->len - (size_t)(start - p->buf));
            if (!nl) break;
            *nl = 0;
            if (!strncmp(start, pre, sizeof pre - 1)) {
                const char *colon = strrchr(start, ':');
                int port = colon ? atoi(colon + 1) : -1;
                size_t rest = p->len - (size_t)(nl + 1 - p->buf);
                memmove(p->buf, nl + 1, rest);
                p->len = rest;
                return port > 0 ? port : -1;
            }
            start = nl + 1;
        }
        size_t rest = p->len - (size_t)(start - p->buf);
        memmove(p->buf, start, rest);
        p->len = rest;
        if (p->len == sizeof p->buf) p->len = 0; /* an absurd line: drop it */
        uint64_t now = clock_mono_ms();
        if (now >= deadline || p->out_fd < 0) return -1;
        struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
        int pr = poll(&pf, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t r = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p->len += (size_t)r;
    }
}

int live_proc_stop(live_proc_t *p, int timeout_ms)
{
    int status = -1;
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
        for (;;) {
            pid_t w = waitpid(p->pid, &status, WNOHANG);
            if (w == p->pid) break;
            if (w < 0 && errno != EINTR) break;
            if (clock_mono_ms() >= deadline) {
                kill(p->pid, SIGKILL);
                while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            usleep(5000);
        }
        p->pid = 0;
    }
    if (p->out_fd >= 0) close(p->out_fd);
    p->out_fd = -1;
    return status;
}
