/* cmd_up.c - `medvault up --dir D`: the embedded default deployment on loopback (DESIGN
 * section 1): the hospital, three key servers (t=2) whose key comes from their own DKG, the
 * storage server and its decoy cloud (DESIGN section 6), and the second cloud's re-encryption
 * proxy (docs/pre.md: the storage server is proxy 1), each a child process of this one;
 * supervised once up (a child that dies is restarted on its own port with exponential
 * backoff, so losing one key server costs nothing the threshold does not already absorb);
 * stopped cleanly on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hospital.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"

#define N_KS 3
#define T_KS 2
#define MAX_CHILDREN 8
#define MAX_ARGS 32
/* Supervision: a crashed child is restarted after UP_BACKOFF_MIN_S, doubling with every
 * further crash up to UP_BACKOFF_MAX_S; a child that ran UP_STABLE_S before it died starts
 * the count afresh. After --restart-limit crashes in a row (default UP_RESTART_LIMIT), each
 * within UP_STABLE_S of its start, `up` gives up on that child and keeps the rest. */
#define UP_BACKOFF_MIN_S 0.5
#define UP_BACKOFF_MAX_S 30.0
#define UP_STABLE_S 60.0
#define UP_RESTART_LIMIT 8

static const char up_usage[] =
    "usage: medvault up --dir DIR [--token-hmac sha256|sha1] [--revocation-poll SECONDS]\n"
    "                   [--webhook URL] [--syslog] [--profile-floor N] [--profile-factor F]\n"
    "                   [--restart-limit N] [--json]\n\n"
    "Creates (or reuses) a whole deployment in DIR and runs it in the foreground on free\n"
    "loopback ports: the hospital service, three key servers (threshold 2; the OPRF key is made\n"
    "by their distributed key generation, no process ever holds it), the storage server and\n"
    "the decoy cloud that answers suspicious requests to it (docs/decoy.md, docs/guard.md),\n"
    "and the second cloud's re-encryption proxy (proxy 2 of sharing through the clouds,\n"
    "docs/pre.md; the storage server is proxy 1), with its own service identity in DIR/proxy-id.\n"
    "When everything answers it writes DIR/deployment.json (what clients use), an admin user\n"
    "directory DIR/admin, and the file DIR/ready, then prints where everything is. SIGINT or\n"
    "SIGTERM stops every service cleanly (and removes DIR/ready). Logs are in DIR/logs/, each\n"
    "service's pid in DIR/run/NAME.pid. Once up, a service that exits is restarted on the same\n"
    "port after 0.5 s, doubling per crash in a row up to 30 s; after --restart-limit crashes in\n"
    "a row (default 8), each within 60 s of its start, `up` gives up on that service, says so\n"
    "and keeps the others (two of three key servers still serve every client). A later `up`\n"
    "on the same DIR reuses the previous ports when they are free, so deployment.json copies\n"
    "stay valid (docs/deployment.md). While `up` runs it holds DIR/up.lock: a second `up` on\n"
    "the same DIR is refused, names the running one's pid and changes nothing.\n"
    "--revocation-poll sets how often the key servers and the storage server fetch the\n"
    "hospital's revocation list (default 10 s). --webhook and --syslog deliver the hospital's\n"
    "alerts (docs/alerts.md); --profile-floor and --profile-factor set the storage server's\n"
    "per-user access profile (reads per hour; docs/guard.md).\n\n"
    "  medvault up --dir demo &\n"
    "  medvault user add --deployment demo/deployment.json --user demo/admin --name dr-a \\\n"
    "      --role doctor --department cardiology --out demo/dr-a\n"
    "  medvault put --deployment demo/deployment.json --user demo/dr-a rx.json\n";

struct child {
    pid_t pid;            /* 0 while not running */
    char name[32];
    char *argv[MAX_ARGS]; /* owned copies, NULL-terminated: every restart runs the same command */
    size_t listen_arg;    /* argv index of the --listen value, 0 if none */
    int port;             /* its port, fixed once known; restarts listen on it */
    double started;       /* mono() at the last start */
    double restart_at;    /* > 0: exited, due to be restarted then */
    unsigned crashes;     /* exits in a row, each within UP_STABLE_S of its start */
    int given_up;
};

struct up {
    const char *dir;
    char exe[4096];
    char run[4096];       /* DIR/run: port and pid files */
    struct child kids[MAX_CHILDREN];
    size_t n_kids;
    unsigned restart_limit;
    sigset_t sigs;
};

static double mono(void)
{
    return mv_mono_seconds();
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int sub(char *out, size_t cap, const char *dir, const char *name)
{
    return mv_path_join(out, cap, dir, name) == MV_OK ? 0 : -1;
}

/* A free loopback port, chosen by the kernel (the socket is closed again at once). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

/* 1 if a daemon could listen on 127.0.0.1:port now (it sets SO_REUSEADDR, as this does). */
static int port_free(int port)
{
    struct sockaddr_in a;
    int one = 1, ok = 0;
    if (port <= 0 || port > 65535)
        return 0;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0)
        ok = 1;
    close(s);
    return ok;
}

/* The port in a file holding a decimal port, or 0. */
static int port_in_file(const char *path)
{
    mv_buf b;
    uint64_t v = 0;
    mv_buf_init(&b, 64);
    if (mv_file_exists(path) && mv_file_read(path, 64, &b) == MV_OK)
        for (size_t i = 0; i < b.len && b.ptr[i] >= '0' && b.ptr[i] <= '9' && v < 65536; i++)
            v = v * 10 + (b.ptr[i] - '0');
    mv_buf_clear(&b);
    return v > 0 && v < 65536 ? (int)v : 0;
}

/* The port of "http://127.0.0.1:PORT", or 0. */
static int port_in_url(const char *url)
{
    static const char pre[] = "http://127.0.0.1:";
    uint64_t v = 0;
    if (strncmp(url, pre, sizeof pre - 1) != 0)
        return 0;
    const char *p = url + sizeof pre - 1;
    for (; *p >= '0' && *p <= '9' && v < 65536; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return *p == 0 && v > 0 && v < 65536 ? (int)v : 0;
}

/* A port for a service: its previous one if that is free (so that copies of the deployment
 * file stay valid across runs of `up`), else a fresh one (said on stderr). 0 asks the
 * service to pick its own (hospital, storage, decoy report theirs in a port file). */
static int pick_port(int prev, const char *who, int fresh_from_kernel, const int *avoid, size_t n_avoid)
{
    if (prev > 0 && port_free(prev))
        return prev;
    int p = 0;
    for (int tries = 0; fresh_from_kernel && tries < 16; tries++) {
        p = free_port();
        int clash = 0;
        for (size_t i = 0; i < n_avoid; i++)
            clash |= p == avoid[i];
        if (p > 0 && !clash)
            break;
        p = -1;
    }
    if (prev > 0)
        fprintf(stderr, "medvault up: %s's previous port %d is taken; it gets a new one (hand out the new deployment.json)\n",
                who, prev);
    return p;
}

static void child_free_args(struct child *k)
{
    for (size_t i = 0; i < MAX_ARGS && k->argv[i]; i++) {
        mv_free(k->argv[i]);
        k->argv[i] = NULL;
    }
}

/* Writes DIR/run/NAME.pid (what an operator or a test signals); best effort. */
static void pid_file(const struct up *u, const struct child *k)
{
    char path[4096], fname[64], text[32];
    snprintf(fname, sizeof fname, "%s.pid", k->name);
    if (sub(path, sizeof path, u->run, fname))
        return;
    if (k->pid <= 0) {
        unlink(path);
        return;
    }
    int n = snprintf(text, sizeof text, "%ld\n", (long)k->pid);
    (void)!mv_file_write_atomic(path, text, (size_t)n, 0644);
}

/* Forks and executes `medvault ARGS...` with stdout/stderr appended to DIR/logs/NAME.log. */
static pid_t start_process(struct up *u, const char *name, char *const *args)
{
    char logs[4096], logf[4096], fname[64];
    if (sub(logs, sizeof logs, u->dir, "logs") || mv_file_mkdir(logs, 0700) != MV_OK)
        return -1;
    snprintf(fname, sizeof fname, "%s.log", name);
    if (sub(logf, sizeof logf, logs, fname))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, STDIN_FILENO);
        execv(u->exe, args);
        _exit(127);
    }
    return pid;
}

/* Starts a service and supervises it from then on: its command is kept for restarts.
 * Returns its pid, or -1. */
static pid_t spawn(struct up *u, const char *name, char *const *args, int track)
{
    if (!track)
        return start_process(u, name, args);
    if (u->n_kids >= MAX_CHILDREN)
        return -1;
    struct child *k = &u->kids[u->n_kids];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    for (size_t i = 0; args[i]; i++) {
        if (i + 1 >= MAX_ARGS || !(k->argv[i] = mv_strdup(args[i]))) {
            child_free_args(k);
            return -1;
        }
        if (i > 0 && strcmp(args[i - 1], "--listen") == 0)
            k->listen_arg = i;
    }
    pid_t pid = start_process(u, name, k->argv);
    if (pid < 0) {
        child_free_args(k);
        return -1;
    }
    k->pid = pid;
    k->started = mono();
    u->n_kids++;
    pid_file(u, k);
    return pid;
}

/* Fixes the port a tracked child serves on: its restarts listen there, not on a new one. */
static void child_port(struct up *u, pid_t pid, int port)
{
    for (size_t i = 0; i < u->n_kids; i++) {
        struct child *k = &u->kids[i];
        char l[32];
        if (k->pid != pid)
            continue;
        k->port = port;
        snprintf(l, sizeof l, "127.0.0.1:%d", port);
        char *copy = mv_strdup(l);
        if (k->listen_arg && copy) {
            mv_free(k->argv[k->listen_arg]);
            k->argv[k->listen_arg] = copy;
        } else {
            mv_free(copy);
        }
    }
}

/* Runs a helper command to completion; 0 if it exited 0. */
static int run_wait(struct up *u, const char *name, char *const *args)
{
    int st = 0;
    pid_t pid = spawn(u, name, args, 0);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* 1 if a stop signal is pending (consumed). */
static int stop_requested(struct up *u)
{
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&u->sigs, NULL, &zero);
    return sig == SIGTERM || sig == SIGINT;
}

/* The name of a tracked child that has exited, or NULL. */
static const char *child_died(struct up *u)
{
    for (size_t i = 0; i < u->n_kids; i++) {
        if (u->kids[i].pid <= 0)
            continue;
        int st;
        if (waitpid(u->kids[i].pid, &st, WNOHANG) == u->kids[i].pid) {
            u->kids[i].pid = 0;
            pid_file(u, &u->kids[i]);
            return u->kids[i].name;
        }
    }
    return NULL;
}

static void stop_children(struct up *u)
{
    for (size_t i = 0; i < u->n_kids; i++)
        if (u->kids[i].pid > 0)
            kill(u->kids[i].pid, SIGTERM);
    double deadline = mono() + 15;
    for (size_t i = 0; i < u->n_kids; i++) {
        if (u->kids[i].pid <= 0)
            continue;
        int st;
        for (;;) {
            pid_t r = waitpid(u->kids[i].pid, &st, WNOHANG);
            if (r == u->kids[i].pid || (r < 0 && errno != EINTR))
                break;
            if (mono() > deadline) {
                kill(u->kids[i].pid, SIGKILL);
                (void)waitpid(u->kids[i].pid, &st, 0);
                break;
            }
            nap(50);
        }
        u->kids[i].pid = 0;
        pid_file(u, &u->kids[i]);
    }
}

/* How a child ended, for the log: "exited with status N" or "was killed by signal N". */
static void describe_exit(int st, char *out, size_t cap)
{
    if (WIFSIGNALED(st))
        snprintf(out, cap, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(out, cap, "exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* One supervision step (DESIGN section 1: losing one key server is what the threshold is
 * for, so one crash must not take the deployment down): reaps children that exited and
 * schedules their restart with backoff, restarts those that are due, gives up on crash
 * loops. Returns how many children are running or due to restart. */
static size_t supervise(struct up *u)
{
    size_t alive = 0;
    for (size_t i = 0; i < u->n_kids; i++) {
        struct child *k = &u->kids[i];
        double now = mono();
        if (k->given_up)
            continue;
        alive++;
        if (k->pid > 0) {
            int st = 0;
            if (waitpid(k->pid, &st, WNOHANG) != k->pid)
                continue;
            char how[48];
            describe_exit(st, how, sizeof how);
            double ran = now - k->started;
            long old = (long)k->pid;
            k->pid = 0;
            pid_file(u, k);
            k->crashes = ran < UP_STABLE_S ? k->crashes + 1 : 1;
            if (u->restart_limit && k->crashes >= u->restart_limit) {
                k->given_up = 1;
                alive--;
                cli_err("%s (pid %ld) %s after %.1f s: %u crashes in a row, each within %.0f s of its start; "
                        "GIVING UP on it (see %s/logs/%s.log); the other services keep running",
                        k->name, old, how, ran, k->crashes, UP_STABLE_S, u->dir, k->name);
                continue;
            }
            double delay = UP_BACKOFF_MIN_S;
            for (unsigned c = 1; c < k->crashes && delay < UP_BACKOFF_MAX_S; c++)
                delay *= 2;
            if (delay > UP_BACKOFF_MAX_S)
                delay = UP_BACKOFF_MAX_S;
            k->restart_at = now + delay;
            cli_err("%s (pid %ld) %s after %.1f s (see %s/logs/%s.log); restarting it on port %d in %.1f s", k->name,
                    old, how, ran, u->dir, k->name, k->port, delay);
            continue;
        }
        if (k->restart_at <= 0 || now < k->restart_at)
            continue;
        k->restart_at = 0;
        k->started = now;
        pid_t pid = start_process(u, k->name, k->argv);
        if (pid < 0) {
            /* Could not even fork: counts as a crash, so a persistent failure ends in giving up. */
            k->crashes++;
            k->restart_at = now + UP_BACKOFF_MAX_S;
            if (u->restart_limit && k->crashes >= u->restart_limit) {
                k->given_up = 1;
                alive--;
                cli_err("cannot restart %s: GIVING UP on it; the other services keep running", k->name);
            }
            continue;
        }
        k->pid = pid;
        pid_file(u, k);
        fprintf(stderr, "medvault up: %s restarted (pid %ld, port %d)\n", k->name, (long)pid, k->port);
    }
    return alive;
}

/* Waits for a port file written by a daemon; returns the port or -1. */
static int wait_port(struct up *u, const char *path, const char *who, double seconds)
{
    double deadline = mono() + seconds;
    while (mono() < deadline) {
        mv_buf b;
        mv_buf_init(&b, 64);
        if (mv_file_exists(path) && mv_file_read(path, 64, &b) == MV_OK && b.len) {
            uint64_t v = 0;
            for (size_t i = 0; i < b.len && b.ptr[i] >= '0' && b.ptr[i] <= '9'; i++)
                v = v * 10 + (b.ptr[i] - '0');
            mv_buf_clear(&b);
            if (v > 0 && v < 65536)
                return (int)v;
        }
        mv_buf_clear(&b);
        if (stop_requested(u) || child_died(u))
            break;
        nap(50);
    }
    cli_err("%s did not start (see %s/logs/)", who, u->dir);
    return -1;
}

static int issue_to(const mv_identity *hosp, const uint8_t subject[32], const char *role, const char *dir)
{
    mv_credential c;
    char b64[MV_CRED_B64_MAX + 1], path[4096];
    memset(&c, 0, sizeof c);
    memcpy(c.subject, subject, 32);
    snprintf(c.role, sizeof c.role, "%s", role);
    c.issued_at = (uint64_t)time(NULL);
    c.expires_at = c.issued_at + 3650ull * 86400;
    if (mv_credential_issue(&c, mv_identity_sign_pk(hosp), mv_identity_sign_sk(hosp)) != MV_OK ||
        mv_credential_encode(&c, b64, sizeof b64) != MV_OK || sub(path, sizeof path, dir, "credential"))
        return -1;
    size_t l = strlen(b64);
    b64[l] = '\n';
    return mv_file_write_atomic(path, b64, l + 1, 0600) == MV_OK ? 0 : -1;
}

/* Loads the service identity in dir, creating it on first start with a credential of role
 * (NULL: none) from the hospital; its signing key in hex (sign_hex) and its X25519 key
 * (box_pk, may be NULL). Returns 0, or -1 after saying what failed (naming what). */
static int service_identity(const mv_identity *hosp, const char *dir, const char *role, const char *what,
                            char sign_hex[65], uint8_t *box_pk)
{
    mv_identity *id = NULL;
    mv_err rc = mv_identity_load(dir, &id);
    if (rc == MV_ERR_NOT_FOUND)
        rc = mv_identity_create(dir, &id);
    if (rc == MV_OK && role && !mv_identity_credential(id) && issue_to(hosp, mv_identity_sign_pk(id), role, dir) != 0)
        rc = MV_ERR_IO;
    if (rc == MV_OK)
        rc = mv_hex_encode(sign_hex, 65, mv_identity_sign_pk(id), 32);
    if (rc == MV_OK && box_pk)
        memcpy(box_pk, mv_identity_box_pk(id), 32);
    mv_identity_free(id);
    if (rc != MV_OK)
        cli_err("%s identity: %s", what, mv_strerror(rc));
    return rc == MV_OK ? 0 : -1;
}

/* Takes DIR/up.lock for the life of this `up` (the kernel drops the flock when the process
 * ends, however it ends) and writes this pid into it. A second `up` on a directory a running
 * one holds must change nothing there: it would otherwise remove the ready and port files the
 * running deployment's users and tests watch. Returns the open descriptor, or -1 after
 * saying why (naming the running `up`'s pid when the lock file holds one). */
static int take_dir_lock(const char *dir)
{
    char path[4096], text[32];
    if (sub(path, sizeof path, dir, "up.lock")) {
        cli_err("%s: the directory name is too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            cli_err("cannot lock %s: %s", path, strerror(e));
        } else {
            /* The holder wrote its pid right after locking; it may not have yet. */
            ssize_t n = pread(fd, text, sizeof text - 1, 0);
            long pid = 0;
            for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9' && pid < 100000000; i++)
                pid = pid * 10 + (text[i] - '0');
            if (pid > 0)
                cli_err("%s is in use by another `medvault up` (pid %ld); nothing was changed (stop that one first, "
                        "or give another --dir)",
                        dir, pid);
            else
                cli_err("%s is in use by another `medvault up`; nothing was changed (stop that one first, or give "
                        "another --dir)",
                        dir);
        }
        close(fd);
        return -1;
    }
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        cli_err("cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int cmd_up(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"token-hmac", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {"revocation-poll", required_argument, NULL, 'r'},
        {"webhook", required_argument, NULL, 'w'}, {"syslog", no_argument, NULL, 's'},
        {"profile-floor", required_argument, NULL, 'f'}, {"profile-factor", required_argument, NULL, 'F'},
        {"restart-limit", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0},
    };
    struct up u;
    const char *alg = "sha256";
    const char *poll = "10", *webhook = NULL, *floor_arg = NULL, *factor_arg = NULL;
    uint64_t poll_v = 0, floor_v = 0, factor_v = 0, limit_v = UP_RESTART_LIMIT;
    int json = 0, use_syslog = 0, c, rcode = CLI_FAIL;
    mv_identity *hosp = NULL, *admin = NULL;
    pid_t hpid = -1, dpid = -1, spid = -1, ppid = -1;
    int lock_fd = -1;
    memset(&u, 0, sizeof u);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': u.dir = optarg; break;
        case 'a': alg = optarg; break;
        case 'r':
            if (cli_u64_arg(optarg, 1, 3600, &poll_v, "--revocation-poll"))
                return CLI_USAGE;
            poll = optarg;
            break;
        case 'w': webhook = optarg; break;
        case 's': use_syslog = 1; break;
        case 'f':
            if (cli_u64_arg(optarg, 1, 1000000, &floor_v, "--profile-floor"))
                return CLI_USAGE;
            floor_arg = optarg;
            break;
        case 'F':
            if (cli_u64_arg(optarg, 1, 1000, &factor_v, "--profile-factor"))
                return CLI_USAGE;
            factor_arg = optarg;
            break;
        case 'R':
            if (cli_u64_arg(optarg, 1, 1000, &limit_v, "--restart-limit"))
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(up_usage, 1);
        default: return cli_usage(up_usage, 0);
        }
    }
    if (!u.dir || optind != argc)
        return cli_usage(up_usage, 0);
    u.restart_limit = (unsigned)limit_v;
    if (strcmp(alg, "sha256") != 0 && strcmp(alg, "sha1") != 0) {
        cli_err("--token-hmac must be sha256 or sha1");
        return CLI_USAGE;
    }
    ssize_t el = readlink("/proc/self/exe", u.exe, sizeof u.exe - 1);
    if (el <= 0) {
        cli_err("cannot find the medvault executable");
        return CLI_FAIL;
    }
    u.exe[el] = 0;
    sigemptyset(&u.sigs);
    sigaddset(&u.sigs, SIGTERM);
    sigaddset(&u.sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &u.sigs, NULL);

    char hdir[4096], ksdir[N_KS][4096], sdir[4096], adir[4096], ready[4096], dep_path[4096];
    const char *run = u.run;
    char sid_dir[4096], ddir[4096], pdir[4096], pid_dir[4096];
    if (mv_file_mkdir(u.dir, 0700) != MV_OK || sub(hdir, sizeof hdir, u.dir, "hospital") ||
        sub(sdir, sizeof sdir, u.dir, "storage") || sub(adir, sizeof adir, u.dir, "admin") ||
        sub(sid_dir, sizeof sid_dir, u.dir, "storage-id") || sub(ddir, sizeof ddir, u.dir, "decoy") ||
        sub(pdir, sizeof pdir, u.dir, "proxy") || sub(pid_dir, sizeof pid_dir, u.dir, "proxy-id") ||
        sub(u.run, sizeof u.run, u.dir, "run") || sub(ready, sizeof ready, u.dir, "ready") ||
        sub(dep_path, sizeof dep_path, u.dir, "deployment.json") || mv_file_mkdir(u.run, 0700) != MV_OK) {
        cli_err("cannot create %s", u.dir);
        return CLI_FAIL;
    }
    if ((lock_fd = take_dir_lock(u.dir)) < 0)
        return CLI_FAIL;
    unlink(ready);
    for (int i = 0; i < N_KS; i++) {
        char n[16];
        snprintf(n, sizeof n, "ks%d", i + 1);
        if (sub(ksdir[i], sizeof ksdir[i], u.dir, n))
            goto out;
    }
    /* Identities: created on first start, reused afterwards. */
    mv_err rc = mv_identity_load(hdir, &hosp);
    int fresh = rc == MV_ERR_NOT_FOUND;
    if (fresh)
        rc = mv_identity_create(hdir, &hosp);
    if (rc != MV_OK) {
        cli_err("%s: %s", hdir, mv_strerror(rc));
        goto out;
    }
    char hk[65], ks_key[N_KS][65];
    if (mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(hosp), 32) != MV_OK)
        goto out;
    /* The previous run's ports, kept where still free: users hold copies of deployment.json. */
    char hport[4096], sport[4096], dport[4096], pport[4096];
    if (sub(hport, sizeof hport, run, "hospital.port") || sub(sport, sizeof sport, run, "storage.port") ||
        sub(dport, sizeof dport, run, "decoy.port") || sub(pport, sizeof pport, run, "proxy.port"))
        goto out;
    int prev[N_KS + 4] = {0}; /* key servers, hospital, storage, decoy, proxy 2 */
    if (!fresh) {
        mv_deployment old;
        if (mv_deployment_load(dep_path, &old) == MV_OK && old.n_servers == N_KS)
            for (int i = 0; i < N_KS; i++)
                prev[i] = port_in_url(old.servers[i].url);
        prev[N_KS] = port_in_file(hport);
        prev[N_KS + 1] = port_in_file(sport);
        prev[N_KS + 2] = port_in_file(dport);
        prev[N_KS + 3] = port_in_file(pport);
    }
    int ports[N_KS];
    char peer_args[N_KS][400], urls[N_KS][64], listen[N_KS][64];
    for (int i = 0; i < N_KS; i++) {
        mv_identity *ks = NULL;
        char n_ks[16];
        rc = mv_identity_load(ksdir[i], &ks);
        if (rc == MV_ERR_NOT_FOUND)
            rc = mv_identity_create(ksdir[i], &ks);
        if (rc == MV_OK && !mv_identity_credential(ks) &&
            issue_to(hosp, mv_identity_sign_pk(ks), "keyserver", ksdir[i]) != 0)
            rc = MV_ERR_IO;
        if (rc == MV_OK)
            rc = mv_hex_encode(ks_key[i], sizeof ks_key[i], mv_identity_sign_pk(ks), 32);
        mv_identity_free(ks);
        if (rc != MV_OK) {
            cli_err("key server %d identity: %s", i + 1, mv_strerror(rc));
            goto out;
        }
        snprintf(n_ks, sizeof n_ks, "keyserver%d", i + 1);
        ports[i] = pick_port(prev[i], n_ks, 1, prev, N_KS + 4);
        if (ports[i] <= 0) {
            cli_err("no free loopback port");
            goto out;
        }
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d", ports[i]);
        snprintf(listen[i], sizeof listen[i], "127.0.0.1:%d", ports[i]);
        snprintf(peer_args[i], sizeof peer_args[i], "%s,%s", urls[i], ks_key[i]);
    }
    /* The storage server's own identity (role storage): it signs its requests to the decoy
     * cloud (which accepts no other key) and its alerts to the hospital. */
    char sid_key[65], pid_key[65];
    uint8_t sbox[32], pbox[32];
    if (service_identity(hosp, sid_dir, "storage", "storage server", sid_key, sbox) != 0)
        goto out;
    /* The second cloud's own service identity: its kfrags are sealed to its key, which no
     * other service holds (in production another provider runs it). */
    if (service_identity(hosp, pid_dir, NULL, "re-encryption proxy", pid_key, pbox) != 0)
        goto out;
    /* The hospital first: the key servers and the storage server poll its revocation list
     * from their start. It picks its own port and reports it. */
    char hurl[64], durl[64], purl[64], hlisten[32], slisten[32], dlisten[32], plisten[32];
    snprintf(hlisten, sizeof hlisten, "127.0.0.1:%d", pick_port(prev[N_KS], "the hospital", 0, NULL, 0));
    snprintf(slisten, sizeof slisten, "127.0.0.1:%d", pick_port(prev[N_KS + 1], "the storage server", 0, NULL, 0));
    snprintf(dlisten, sizeof dlisten, "127.0.0.1:%d", pick_port(prev[N_KS + 2], "the decoy cloud", 0, NULL, 0));
    snprintf(plisten, sizeof plisten, "127.0.0.1:%d", pick_port(prev[N_KS + 3], "the re-encryption proxy", 0, NULL, 0));
    unlink(hport);
    unlink(sport);
    unlink(dport);
    unlink(pport);
    {
        char *args[24] = {u.exe,       "hospital",   "run",         "--dir",      hdir,
                          "--listen",  hlisten,      "--port-file", hport,        "--token-hmac",
                          (char *)alg, "--deployment", dep_path,     "--revocation-poll", (char *)poll};
        size_t na = 15;
        if (webhook) {
            args[na++] = "--webhook";
            args[na++] = (char *)webhook;
        }
        if (use_syslog)
            args[na++] = "--syslog";
        args[na] = NULL;
        if ((hpid = spawn(&u, "hospital", args, 1)) < 0)
            goto out;
    }
    int hp = wait_port(&u, hport, "the hospital service", 30);
    if (hp < 0)
        goto out;
    child_port(&u, hpid, hp);
    snprintf(hurl, sizeof hurl, "http://127.0.0.1:%d", hp);
    /* peers.json (the URLs stay while their ports are free; keys and shares stay). */
    char peers_file[4096];
    if (sub(peers_file, sizeof peers_file, run, "peers.json"))
        goto out;
    {
        char *args[] = {u.exe, "keyserver", "peers", "--threshold", "2", "--peer", peer_args[0], "--peer", peer_args[1],
                        "--peer", peer_args[2], "--out", peers_file, NULL};
        if (run_wait(&u, "setup", args) != 0) {
            cli_err("cannot write the key servers' peers file (see %s/logs/setup.log)", u.dir);
            goto out;
        }
    }
    mv_buf pb;
    mv_buf_init(&pb, 1u << 20);
    if (mv_file_read(peers_file, 1u << 20, &pb) != MV_OK) {
        mv_buf_clear(&pb);
        goto out;
    }
    for (int i = 0; i < N_KS; i++) {
        char p[4096], name[16];
        if (sub(p, sizeof p, ksdir[i], "peers.json") || mv_file_write_atomic(p, pb.ptr, pb.len, 0644) != MV_OK) {
            mv_buf_clear(&pb);
            goto out;
        }
        snprintf(name, sizeof name, "keyserver%d", i + 1);
        char *args[] = {u.exe, "keyserver", "run", "--dir", ksdir[i], "--listen", listen[i], "--hospital-key", hk,
                        "--hospital-url", hurl, "--revocation-poll", (char *)poll, NULL};
        pid_t kp = spawn(&u, name, args, 1);
        if (kp < 0) {
            mv_buf_clear(&pb);
            goto out;
        }
        child_port(&u, kp, ports[i]);
    }
    mv_buf_clear(&pb);
    if (!json)
        fprintf(stderr, "medvault up: %s key servers (%s)...\n", fresh ? "starting" : "restarting",
                fresh ? "running their distributed key generation" : "reusing their shares");
    /* The decoy cloud, then the storage server that forwards suspicious requests to it; each
     * picks its own port and reports it. */
    {
        char *args[] = {u.exe,         "storage",     "run",         "--role", "decoy",          "--dir", ddir,
                        "--listen",    dlisten,       "--port-file", dport,    "--hospital-key", hk,      "--primary-key",
                        sid_key,       NULL};
        if ((dpid = spawn(&u, "decoy", args, 1)) < 0)
            goto out;
    }
    int dp = wait_port(&u, dport, "the decoy cloud", 30);
    if (dp < 0)
        goto out;
    child_port(&u, dpid, dp);
    snprintf(durl, sizeof durl, "http://127.0.0.1:%d", dp);
    {
        char *args[32] = {u.exe,         "storage",        "run", "--dir",       sdir,  "--listen",
                          slisten,       "--hospital-key", hk,    "--port-file", sport, "--hospital-url",
                          hurl,          "--revocation-poll", (char *)poll, "--identity", sid_dir, "--decoy-url",
                          durl};
        size_t na = 19;
        if (floor_arg) {
            args[na++] = "--profile-floor";
            args[na++] = (char *)floor_arg;
        }
        if (factor_arg) {
            args[na++] = "--profile-factor";
            args[na++] = (char *)factor_arg;
        }
        args[na] = NULL;
        if ((spid = spawn(&u, "storage", args, 1)) < 0)
            goto out;
    }
    /* The second cloud's re-encryption proxy (proxy 2). */
    {
        char *args[] = {u.exe,    "storage",  "run",         "--role", "proxy",          "--proxy-index", "2",
                        "--dir",  pdir,       "--identity",  pid_dir,  "--listen",       plisten,  "--port-file",
                        pport,    "--hospital-key", hk,      "--hospital-url", hurl,     "--revocation-poll",
                        (char *)poll, NULL};
        if ((ppid = spawn(&u, "proxy", args, 1)) < 0)
            goto out;
    }
    /* The deployment file: from the key servers once their key exists. */
    {
        char *args[] = {u.exe, "deployment", "create", "--hospital-dir", hdir, "--keyserver", urls[0], "--keyserver",
                        urls[1], "--keyserver", urls[2], "--out", dep_path, "--wait", "120", NULL};
        if (run_wait(&u, "setup", args) != 0) {
            cli_err("the key servers did not produce a key (see %s/logs/)", u.dir);
            goto out;
        }
    }
    int sp = wait_port(&u, sport, "the storage server", 30);
    if (sp < 0)
        goto out;
    child_port(&u, spid, sp);
    int pp = wait_port(&u, pport, "the re-encryption proxy", 30);
    if (pp < 0)
        goto out;
    child_port(&u, ppid, pp);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pp);
    mv_deployment dep;
    if (mv_deployment_load(dep_path, &dep) != MV_OK) {
        cli_err("cannot read back %s", dep_path);
        goto out;
    }
    snprintf(dep.hospital_url, sizeof dep.hospital_url, "%s", hurl);
    snprintf(dep.storage_url, sizeof dep.storage_url, "http://127.0.0.1:%d", sp);
    /* Sharing through the clouds (docs/pre.md 7.2): proxy 1 is the storage server under its
     * identity's key, proxy 2 the second cloud; both must answer (2 of 2). */
    dep.n_proxies = 2;
    dep.proxy_threshold = 2;
    dep.proxies[0].index = 1;
    snprintf(dep.proxies[0].url, sizeof dep.proxies[0].url, "%s", dep.storage_url);
    memcpy(dep.proxies[0].box_pk, sbox, 32);
    dep.proxies[1].index = 2;
    snprintf(dep.proxies[1].url, sizeof dep.proxies[1].url, "%s", purl);
    memcpy(dep.proxies[1].box_pk, pbox, 32);
    if (mv_deployment_save(&dep, dep_path) != MV_OK) {
        cli_err("cannot write %s", dep_path);
        goto out;
    }
    /* The first admin, registered directly in the hospital's registry. */
    rc = mv_identity_load(adir, &admin);
    if (rc == MV_ERR_NOT_FOUND) {
        char cred[MV_CRED_B64_MAX + 1];
        if ((rc = mv_identity_create(adir, &admin)) == MV_OK &&
            (rc = mv_hospital_register(hdir, "admin", "admin", NULL, 0, mv_identity_sign_pk(admin),
                                       mv_identity_box_pk(admin), 365, cred, sizeof cred)) == MV_OK)
            rc = mv_identity_save_credential(admin, adir, cred);
        mv_wipe(cred, sizeof cred);
    }
    /* The admin directory pins the hospital key like every registered user's (a directory
     * from before pins existed gets it now; one pinning another hospital is refused). */
    if (rc == MV_OK && (rc = mv_identity_pin_hospital(adir, mv_identity_sign_pk(hosp))) == MV_ERR_AUTH) {
        cli_err("admin user in %s: its hospital.pin names another hospital's key", adir);
        goto out;
    }
    if (rc != MV_OK) {
        cli_err("admin user in %s: %s", adir, mv_strerror(rc));
        goto out;
    }
    if (mv_file_write_atomic(ready, "ready\n", 6, 0644) != MV_OK)
        goto out;
    if (json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_kstr(&w, "deployment", dep_path);
        mv_jw_kstr(&w, "admin", adir);
        mv_jw_kstr(&w, "hospital_url", dep.hospital_url);
        mv_jw_kstr(&w, "storage_url", dep.storage_url);
        mv_jw_kstr(&w, "decoy_url", durl);
        mv_jw_kstr(&w, "proxy_url", purl);
        mv_jw_key(&w, "keyservers");
        mv_jw_arr(&w);
        for (int i = 0; i < N_KS; i++)
            mv_jw_str(&w, urls[i]);
        mv_jw_arr_end(&w);
        mv_jw_ki64(&w, "threshold", T_KS);
        if (cli_json_end(&w, &b) != CLI_OK)
            goto out;
    } else {
        printf("medvault is up (stop with Ctrl-C or SIGTERM to pid %ld)\n"
               "  hospital     %s\n  storage      %s (re-encryption proxy 1)\n  decoy cloud  %s\n"
               "  second cloud %s (re-encryption proxy 2)\n  key servers  %s %s %s (threshold %d)\n"
               "  deployment   %s\n  admin user   %s\n  logs         %s/logs/\n  pids         %s/NAME.pid\n",
               (long)getpid(), dep.hospital_url, dep.storage_url, durl, purl, urls[0], urls[1], urls[2], T_KS, dep_path, adir,
               u.dir, run);
    }
    fflush(stdout);
    /* Foreground until told to stop, supervising the services. */
    rcode = CLI_OK;
    for (;;) {
        struct timespec to = {0, 100 * 1000000L};
        int sig = sigtimedwait(&u.sigs, NULL, &to);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (supervise(&u) == 0) {
            cli_err("every service has been given up on; stopping");
            rcode = CLI_FAIL;
            break;
        }
    }
out:
    unlink(ready);
    stop_children(&u);
    for (size_t i = 0; i < u.n_kids; i++)
        child_free_args(&u.kids[i]);
    mv_identity_free(admin);
    mv_identity_free(hosp);
    if (lock_fd >= 0)
        close(lock_fd); /* last: the directory is free only once every service has stopped */
    if (!json && rcode == CLI_OK)
        fprintf(stderr, "medvault up: stopped\n");
    return rcode;
}
