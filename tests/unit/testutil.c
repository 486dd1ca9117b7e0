/* testutil.c - shared helpers for the unit tests. */
#include "testutil.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_mem.h"

char *tu_read_vector_file(const char *name, size_t *len)
{
    const char *dir = getenv("MV_VECTORS_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/vectors", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open vector file %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = mv_malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = 0;
    fclose(f);
    if (len)
        *len = (size_t)sz;
    return buf;
}

mv_json *tu_load_json(const char *name)
{
    size_t len = 0, off = 0;
    char *text = tu_read_vector_file(name, &len);
    mv_json_limits lim = {64u << 20, 64, 10000000};
    mv_json *root = NULL;
    mv_err rc = mv_json_parse(text, len, &lim, &root, &off);
    if (rc != MV_OK)
        fail_msg("%s: JSON parse error %s at offset %zu", name, mv_strerror(rc), off);
    mv_free(text);
    return root;
}

uint8_t *tu_hex(const char *hex, size_t *n)
{
    size_t hl = strlen(hex), got = 0;
    uint8_t *out = mv_malloc(hl / 2 + 1);
    assert_non_null(out);
    if (mv_hex_decode(out, hl / 2 + 1, &got, hex, hl) != MV_OK)
        fail_msg("bad hex in test data: %.40s", hex);
    if (n)
        *n = got;
    return out;
}

uint8_t *tu_json_hex(const mv_json *obj, const char *key, size_t *n)
{
    size_t len = 0;
    const char *s = mv_json_get_str(obj, key, &len);
    if (!s)
        fail_msg("missing hex field %s", key);
    return tu_hex(s, n);
}

const char *tu_tmpdir(void)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/mvtest.XXXXXX");
    if (!mkdtemp(path))
        fail_msg("mkdtemp failed");
    return path;
}

uint64_t tu_json_u64(const mv_json *obj, const char *key)
{
    uint64_t v = 0;
    if (mv_json_get_u64(obj, key, &v) != MV_OK)
        fail_msg("missing integer field %s", key);
    return v;
}

int tu_all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

long tu_get_metrics(unsigned port, const char *token_dir, mv_buf *out)
{
    char url[64], tok[MV_HTTP_METRICS_TOKEN_MAX + 1], hdr[MV_HTTP_METRICS_TOKEN_MAX + 32];
    const char *hdrs[2] = {hdr, NULL};
    mv_httpc_call c;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", port);
    mv_httpc_call_init(&c);
    c.url = url;
    c.timeout_ms = 10000;
    if (token_dir) {
        assert_int_equal(mv_daemon_metrics_token(token_dir, tok, sizeof tok), MV_OK);
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
        c.headers = hdrs;
    }
    assert_int_equal(mv_httpc_run(&c, 1), MV_OK);
    assert_int_equal(c.rc, MV_OK);
    long status = c.status;
    mv_buf_reset(out);
    assert_int_equal(mv_buf_append(out, c.response.ptr, c.response.len), MV_OK);
    mv_httpc_call_clear(&c);
    return status;
}

char *tu_credential(const struct mv_identity *hospital, const uint8_t subject[32], const char *role, const char *dept)
{
    mv_credential cr;
    memset(&cr, 0, sizeof cr);
    memcpy(cr.subject, subject, 32);
    snprintf(cr.role, sizeof cr.role, "%s", role);
    if (dept) {
        cr.n_departments = 1;
        snprintf(cr.departments[0], sizeof cr.departments[0], "%s", dept);
    }
    cr.issued_at = (uint64_t)time(NULL) - 1000;
    cr.expires_at = (uint64_t)time(NULL) + 36000;
    assert_int_equal(mv_credential_issue(&cr, mv_identity_sign_pk(hospital), mv_identity_sign_sk(hospital)), MV_OK);
    char *b64 = mv_malloc(MV_CRED_B64_MAX + 1);
    assert_non_null(b64);
    assert_int_equal(mv_credential_encode(&cr, b64, MV_CRED_B64_MAX + 1), MV_OK);
    return b64;
}

long tu_call(const char *method, const char *url, const void *body, size_t len, const struct mv_identity *id,
             const char *cred, mv_buf *out)
{
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    c.method = method;
    c.url = url;
    c.body = body;
    c.body_len = len;
    c.timeout_ms = 60000;
    if (id)
        assert_int_equal(mv_httpc_sign(&c, mv_identity_sign_pk(id), mv_identity_sign_sk(id), cred, (uint64_t)time(NULL)),
                         MV_OK);
    assert_int_equal(mv_httpc_run(&c, 1), MV_OK);
    assert_int_equal(c.rc, MV_OK);
    long st = c.status;
    if (out) {
        mv_buf_reset(out);
        assert_int_equal(mv_buf_append(out, c.response.ptr, c.response.len), MV_OK);
    }
    mv_httpc_call_clear(&c);
    return st;
}

extern char **environ;

int tu_up_start(const char *mvdir)
{
    const char *bin = getenv("MEDVAULT_BIN");
    char ready[512];
    pid_t pid = -1;
    assert_non_null(bin);
    snprintf(ready, sizeof ready, "%s/ready", mvdir);
    setenv("MV_LOG", "warn", 1);
    char *argv[] = {(char *)bin, "up", "--dir", (char *)mvdir, NULL};
    assert_int_equal(posix_spawn(&pid, bin, NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 900 && !mv_file_exists(ready); i++)
        usleep(100000);
    assert_true(mv_file_exists(ready));
    return (int)pid;
}

int tu_up_stop(int pid)
{
    int st = 0;
    if (pid <= 0 || kill((pid_t)pid, SIGTERM) != 0 || waitpid((pid_t)pid, &st, 0) != (pid_t)pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

pid_t tu_daemon_start(const char *what, const char *port_file, const char *const args[], unsigned *port)
{
    const char *bin = getenv("MEDVAULT_BIN");
    char *argv[TU_DAEMON_ARGS_MAX + 2];
    pid_t pid = -1;
    size_t n = 0;
    int status = 0;
    assert_non_null(bin);
    argv[0] = (char *)bin;
    for (; args[n]; n++) {
        assert_true(n < TU_DAEMON_ARGS_MAX);
        argv[n + 1] = (char *)args[n];
    }
    argv[n + 1] = NULL;
    /* A port file left by an earlier run of the daemon would be read as the new port. */
    unlink(port_file);
    assert_int_equal(posix_spawn(&pid, bin, NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 300; i++) {
        mv_buf b;
        mv_buf_init(&b, 64);
        if (mv_file_read(port_file, 64, &b) == MV_OK && b.len > 0) {
            *port = (unsigned)strtoul((const char *)b.ptr, NULL, 10);
            mv_buf_clear(&b);
            return pid;
        }
        mv_buf_clear(&b);
        /* A daemon that refused its configuration will never write the file: say so now
         * rather than after the whole wait. */
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("%s exited (status %d) before writing its port", what,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("%s did not start", what);
    return -1;
}

void tu_daemon_stop(const char *what, pid_t *pid)
{
    int status = 0;
    assert_true(*pid > 0);
    assert_int_equal(kill(*pid, SIGTERM), 0);
    for (int i = 0; i < 150; i++) {
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = -1;
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            return;
        }
        usleep(100000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    *pid = -1;
    fail_msg("%s ignored SIGTERM", what);
}

void tu_daemon_kill(pid_t *pid)
{
    int status = 0;
    assert_true(*pid > 0);
    assert_int_equal(kill(*pid, SIGKILL), 0);
    assert_int_equal(waitpid(*pid, &status, 0), *pid);
    *pid = -1;
}
