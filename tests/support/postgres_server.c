/* postgres_server.c - test support: create, start, crash and remove a
 * throwaway PostgreSQL cluster (see postgres_server.h). */
#include "postgres_server.h"
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *tpg_bindir(void)
{
    static char dir[256];
    if (dir[0]) return dir;
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0) return NULL;
    /* the last match: the newest version */
    snprintf(dir, sizeof dir, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(dir, '/') = 0;
    char pg[300];
    snprintf(pg, sizeof pg, "%s/postgres", dir);
    if (access(pg, X_OK) != 0) dir[0] = 0;
    return dir[0] ? dir : NULL;
}

/* Run argv as the postgres user when we are root; stdout/stderr to
 * /dev/null. Returns the child's pid. */
static pid_t spawn_as_pg(const char *const argv[])
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0 && !getenv("TETHER_TEST_VERBOSE")) {
        dup2(nul, 1);
        dup2(nul, 2);
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) _exit(126);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* after setuid, which clears it */
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int init_dir(tpg_t *p)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/tether-pg-XXXXXX");
    if (!mkdtemp(p->dir)) return -1;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(p->dir, pw->pw_uid, pw->pw_gid) != 0) return -1;
    }
    char initdb[300], data[300];
    snprintf(initdb, sizeof initdb, "%s/initdb", tpg_bindir());
    snprintf(data, sizeof data, "%s/data", p->dir);
    const char *argv[] = {initdb,  "-D", data,   "-U",         "tether",    "-A",
                          "trust", "-E", "UTF8", "--locale=C", "--no-sync", NULL};
    pid_t pid = spawn_as_pg(argv);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return 0;
}

int tpg_start(tpg_t *p, int port)
{
    if (!tpg_bindir() || port <= 0) return -1;
    if (!p->dir[0] && init_dir(p) != 0) return -1;
    p->port = port;
    snprintf(p->conninfo, sizeof p->conninfo, "host=127.0.0.1 port=%d user=tether dbname=postgres",
             port);
    char bin[300], data[300], ports[16], sock[300];
    snprintf(bin, sizeof bin, "%s/postgres", tpg_bindir());
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(sock, sizeof sock, "unix_socket_directories=%s", p->dir);
    const char *argv[] = {bin,
                          "-D",
                          data,
                          "-p",
                          ports,
                          "-c",
                          "listen_addresses=127.0.0.1",
                          "-c",
                          sock,
                          "-c",
                          "fsync=off",
                          "-c",
                          "full_page_writes=off",
                          NULL};
    p->pid = spawn_as_pg(argv);
    if (p->pid < 0) {
        p->pid = 0;
        return -1;
    }
    for (int i = 0; i < 400; i++) {
        if (PQping(p->conninfo) == PQPING_OK) return 0;
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) break;
        nap_ms(50);
    }
    tpg_kill(p);
    return -1;
}

void tpg_kill(tpg_t *p)
{
    if (p->pid <= 0) return;
    kill(p->pid, SIGQUIT);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = 0;
            return;
        }
        nap_ms(25);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

void tpg_stop(tpg_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGINT); /* fast shutdown */
        for (int i = 0; i < 200 && p->pid > 0; i++) {
            if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
                p->pid = 0;
            else
                nap_ms(25);
        }
        tpg_kill(p);
    }
    if (p->dir[0]) {
        char cmd[320];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", p->dir);
        p->dir[0] = 0;
    }
}
