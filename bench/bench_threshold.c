/* bench_threshold.c - the threshold VOPRF through real key-server processes on loopback.
 *
 * Measures (1) server throughput on one core: one `medvault keyserver run` pinned to CPU 0
 * with one worker thread, loaded from CPU 1 with pre-blinded batches of 1, 64 and 256
 * elements (4 requests in flight; the load generator signs each request but does not verify,
 * so the server is the bottleneck); (2) p50/p99 latency of one threshold evaluation (t=2 of
 * n=3, batch 1, client verifies both proofs); (3) client CPU per element at t=2 of n=3.
 * usage: bench_threshold MEDVAULT_BIN [--json] [--seconds S]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"
#include "medvault/mv_toprf.h"

extern char **environ;

static const char *g_bin;
static char g_root[256];
static mv_identity *g_hosp;
static pid_t g_pids[4];
static size_t g_npids;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_threshold: %s\n", what);
    for (size_t i = 0; i < g_npids; i++)
        kill(g_pids[i], SIGKILL);
    exit(1);
}

static unsigned spawn_server(const char *dir, const char *cpu, const char *threads)
{
    char hk[65], pf[400];
    snprintf(pf, sizeof pf, "%s/port", dir);
    unlink(pf);
    if (mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(g_hosp), 32) != MV_OK)
        die("hex");
    char *argv[24];
    int a = 0;
    if (cpu) {
        argv[a++] = "taskset";
        argv[a++] = "-c";
        argv[a++] = (char *)cpu;
    }
    char *rest[] = {(char *)g_bin, "keyserver", "run", "--dir", (char *)dir, "--listen", "127.0.0.1:0",
                    "--hospital-key", hk, "--rate-burst", "1000000000", "--rate-per-sec", "100000000",
                    "--threads", (char *)threads, "--port-file", pf, NULL};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        argv[a++] = rest[i];
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        die("spawn");
    g_pids[g_npids++] = pid;
    for (int i = 0; i < 200; i++) {
        mv_buf b;
        mv_buf_init(&b, 64);
        if (mv_file_read(pf, 64, &b) == MV_OK && b.len) {
            unsigned port = (unsigned)strtoul((const char *)b.ptr, NULL, 10);
            mv_buf_clear(&b);
            return port;
        }
        mv_buf_clear(&b);
        usleep(50000);
    }
    die("key server did not start");
    return 0;
}

static void stop_servers(void)
{
    for (size_t i = 0; i < g_npids; i++) {
        int st;
        kill(g_pids[i], SIGTERM);
        waitpid(g_pids[i], &st, 0);
    }
    g_npids = 0;
}

static char *credential_for(const mv_identity *u)
{
    mv_credential c;
    memset(&c, 0, sizeof c);
    memcpy(c.subject, mv_identity_sign_pk(u), 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.issued_at = (uint64_t)time(NULL) - 10;
    c.expires_at = c.issued_at + 86400;
    char *b64 = mv_malloc(MV_CRED_B64_MAX);
    if (!b64 || mv_credential_issue(&c, mv_identity_sign_pk(g_hosp), mv_identity_sign_sk(g_hosp)) != MV_OK ||
        mv_credential_encode(&c, b64, MV_CRED_B64_MAX) != MV_OK)
        die("credential");
    return b64;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Elements per second one key server answers at `batch`, 4 requests in flight. */
static double server_throughput(unsigned port, const mv_identity *u, const char *cred, size_t batch, double secs)
{
    mv_buf body;
    mv_buf_init(&body, 1u << 20);
    if (mv_buf_puts(&body, "{\"blinded\":[") != MV_OK)
        die("buf");
    for (size_t i = 0; i < batch; i++) {
        uint8_t in[8], bl[32], blind[32];
        memcpy(in, &i, 8);
        if (mv_oprf_blind(MV_OPRF_MODE_VOPRF, in, 8, NULL, blind, bl) != MV_OK ||
            (i && mv_buf_puts(&body, ",") != MV_OK) || mv_json_write_hex(&body, bl, 32) != MV_OK)
            die("blind");
    }
    if (mv_buf_puts(&body, "]}") != MV_OK)
        die("buf");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/evaluate", port);
    enum { INFLIGHT = 4 };
    mv_httpc_call calls[INFLIGHT];
    size_t done = 0;
    double t0 = now();
    while (now() - t0 < secs) {
        for (int k = 0; k < INFLIGHT; k++) {
            mv_httpc_call_init(&calls[k]);
            calls[k].method = "POST";
            calls[k].url = url;
            calls[k].body = body.ptr;
            calls[k].body_len = body.len;
            calls[k].timeout_ms = 30000;
            if (mv_httpc_sign(&calls[k], mv_identity_sign_pk(u), mv_identity_sign_sk(u), cred,
                              (uint64_t)time(NULL)) != MV_OK)
                die("sign");
        }
        if (mv_httpc_run(calls, INFLIGHT) != MV_OK)
            die("run");
        for (int k = 0; k < INFLIGHT; k++) {
            if (calls[k].rc != MV_OK || calls[k].status != 200)
                die("evaluate failed");
            done += batch;
            mv_httpc_call_clear(&calls[k]);
        }
    }
    double el = now() - t0;
    mv_buf_clear(&body);
    return (double)done / el;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    int json = 0;
    double secs = 3;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_threshold MEDVAULT_BIN [--json] [--seconds S]\n");
        return 2;
    }
    g_bin = argv[1];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = strtod(argv[++i], NULL);
    }
    if (mv_crypto_init() != MV_OK || mv_httpc_global_init() != MV_OK)
        die("init");
    snprintf(g_root, sizeof g_root, "/tmp/mvbench.XXXXXX");
    if (!mkdtemp(g_root))
        die("mkdtemp");
    char d[400];
    snprintf(d, sizeof d, "%s/hospital", g_root);
    if (mv_identity_create(d, &g_hosp) != MV_OK)
        die("hospital");
    mv_identity *u = NULL;
    snprintf(d, sizeof d, "%s/user", g_root);
    if (mv_identity_create(d, &u) != MV_OK)
        die("user");
    char *cred = credential_for(u);
    snprintf(d, sizeof d, "%s/user", g_root);
    if (mv_identity_save_credential(u, d, cred) != MV_OK)
        die("save credential");

    /* A 2-of-3 sharing of a random key (benchmark set-up only; production uses the DKG). */
    uint8_t key[32], shares[3 * 32], pubs[3 * 32];
    mv_r255_scalar_random(key);
    if (mv_shamir_split(key, 2, 3, NULL, shares) != MV_OK)
        die("split");
    for (int i = 0; i < 3; i++)
        if (mv_r255_smul_base(pubs + i * 32, shares + i * 32) != MV_OK)
            die("pub");
    mv_deployment dep;
    memset(&dep, 0, sizeof dep);
    memcpy(dep.hospital_pk, mv_identity_sign_pk(g_hosp), 32);
    dep.threshold = 2;
    dep.n_servers = 3;
    if (mv_r255_smul_base(dep.group_pk, key) != MV_OK)
        die("group");
    mv_wipe(key, sizeof key);
    char ksdir[3][400];
    for (int i = 0; i < 3; i++) {
        mv_identity *k = NULL;
        snprintf(ksdir[i], sizeof ksdir[i], "%s/ks%d", g_root, i + 1);
        if (mv_identity_create(ksdir[i], &k) != MV_OK ||
            mv_keyserver_import_share(ksdir[i], (uint32_t)i + 1, 2, shares + i * 32, pubs, 3, 0, 0) != MV_OK)
            die("import");
        mv_identity_free(k);
        dep.servers[i].index = (uint32_t)i + 1;
        memcpy(dep.servers[i].public_share, pubs + i * 32, 32);
    }
    mv_wipe(shares, sizeof shares);

    /* (1) one server, one core. */
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(1, &cs);
    int pinned = sched_setaffinity(0, sizeof cs, &cs) == 0;
    unsigned p1 = spawn_server(ksdir[0], pinned ? "0" : NULL, "1");
    size_t batches[3] = {1, 64, 256};
    double tput[3];
    for (int i = 0; i < 3; i++)
        tput[i] = server_throughput(p1, u, cred, batches[i], secs);
    stop_servers();
    CPU_ZERO(&cs);
    CPU_SET(0, &cs);
    CPU_SET(1, &cs);
    (void)sched_setaffinity(0, sizeof cs, &cs);

    /* (2) and (3): three servers, t = 2. */
    for (int i = 0; i < 3; i++) {
        unsigned p = spawn_server(ksdir[i], NULL, "2");
        snprintf(dep.servers[i].url, sizeof dep.servers[i].url, "http://127.0.0.1:%u", p);
    }
    mv_toprf_options o = {10000, 0};
    enum { LAT_N = 400 };
    double lat[LAT_N];
    uint8_t in[16], out[64 * 64];
    for (int i = 0; i < LAT_N; i++) {
        const uint8_t *ip[1] = {in};
        size_t il[1] = {sizeof in};
        memcpy(in, &i, sizeof i);
        double t0 = now();
        if (mv_toprf_evaluate(&dep, u, ip, il, 1, out, &o, NULL) != MV_OK)
            die("threshold evaluate");
        lat[i] = now() - t0;
    }
    qsort(lat, LAT_N, sizeof lat[0], cmp_double);
    double p50 = lat[LAT_N / 2], p99 = lat[LAT_N * 99 / 100];

    enum { CPU_ROUNDS = 30, CPU_BATCH = 64 };
    const uint8_t *ips[CPU_BATCH];
    size_t ils[CPU_BATCH];
    uint8_t inputs[CPU_BATCH][16];
    for (int i = 0; i < CPU_BATCH; i++) {
        memset(inputs[i], i, sizeof inputs[i]);
        ips[i] = inputs[i];
        ils[i] = sizeof inputs[i];
    }
    double c0 = cpu_seconds(), w0 = now();
    for (int r = 0; r < CPU_ROUNDS; r++)
        if (mv_toprf_evaluate(&dep, u, ips, ils, CPU_BATCH, out, &o, NULL) != MV_OK)
            die("threshold evaluate batch");
    double cpu_per_el = (cpu_seconds() - c0) / (CPU_ROUNDS * CPU_BATCH);
    double wall_per_batch = (now() - w0) / CPU_ROUNDS;
    stop_servers();

    if (json) {
        printf("{\"server_elements_per_s\":{\"1\":%.0f,\"64\":%.0f,\"256\":%.0f},\"server_pinned_one_core\":%s,"
               "\"threshold_latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},\"client_cpu_us_per_element_batch64\":%.1f,"
               "\"threshold_batch64_wall_ms\":%.2f}\n",
               tput[0], tput[1], tput[2], pinned ? "true" : "false", p50 * 1e3, p99 * 1e3, cpu_per_el * 1e6,
               wall_per_batch * 1e3);
    } else {
        printf("key server, one core%s, 4 requests in flight:\n", pinned ? " (taskset -c 0)" : " (NOT pinned)");
        for (int i = 0; i < 3; i++)
            printf("  batch %4zu: %9.0f elements/s\n", batches[i], tput[i]);
        printf("threshold evaluation t=2 of n=3, batch 1, %d runs: p50 %.3f ms, p99 %.3f ms\n", LAT_N, p50 * 1e3,
               p99 * 1e3);
        printf("client CPU per element (batch 64, t=2 of n=3): %.1f us; wall per batch %.2f ms\n", cpu_per_el * 1e6,
               wall_per_batch * 1e3);
    }
    mv_free(cred);
    mv_identity_free(u);
    mv_identity_free(g_hosp);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
