/* test_http.c - the HTTP server (mv_http.h) and client (mv_httpc.h) against each other on
 * 127.0.0.1: echo, end-to-end signed requests (DESIGN section 3) verified by mv_auth_verify,
 * 429 + Retry-After, parallel calls, /healthz and /metrics, 413, closed ports, timeouts,
 * caps, and raw-socket checks of what goes over the wire; the limits of issue 11: the body
 * gate, strict framing (one status line whatever the Content-Length), content types, the
 * metrics token, head and body deadlines and per-address eviction. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_http.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_sig.h"

#define MAX_BODY 4096

typedef struct srv_ctx {
    mv_auth_verifier *verifier;
    pthread_mutex_t lock;
    int handler_calls;
    int gate_calls;
    size_t gate_body_len; /* body_len the gate saw last */
} srv_ctx;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void handler(void *vctx, const mv_http_request *req, mv_http_response *resp)
{
    srv_ctx *ctx = vctx;
    pthread_mutex_lock(&ctx->lock);
    ctx->handler_calls++;
    pthread_mutex_unlock(&ctx->lock);
    if (strcmp(req->path, "/echo") == 0) {
        const char *probe = mv_http_header(req, "X-PROBE");
        resp->status = 200;
        snprintf(resp->content_type, sizeof resp->content_type, "application/octet-stream");
        if (mv_buf_printf(&resp->body, "%s\n%s\n%s\n%s\n%s\n", req->method, req->path_and_query, req->path,
                          probe ? probe : "-", req->remote_addr) != MV_OK ||
            mv_buf_append(&resp->body, req->body, req->body_len) != MV_OK)
            mv_http_respond_json_error(resp, 500, "echo failed");
    } else if (strcmp(req->path, "/auth") == 0) {
        mv_credential cred;
        mv_err rc = mv_http_verify(ctx->verifier, req, (uint64_t)time(NULL), &cred);
        if (rc == MV_OK) {
            resp->status = 200;
            snprintf(resp->content_type, sizeof resp->content_type, "text/plain");
            if (mv_buf_puts(&resp->body, cred.role) != MV_OK)
                resp->status = 500;
        } else {
            mv_http_respond_json_error(resp, rc == MV_ERR_REPLAY ? 409 : 401, mv_strerror(rc));
        }
    } else if (strcmp(req->path, "/limited") == 0) {
        mv_http_respond_json_error(resp, 429, "slow down");
        if (mv_http_response_header(resp, "Retry-After", "7") != MV_OK)
            resp->status = 500;
    } else if (strcmp(req->path, "/sleep") == 0) {
        sleep_ms(1500);
        resp->status = 200;
    } else if (strcmp(req->path, "/big") == 0) {
        static uint8_t chunk[65536];
        resp->status = 200;
        for (int i = 0; i < 32; i++)
            if (mv_buf_append(&resp->body, chunk, sizeof chunk) != MV_OK)
                resp->status = 500;
    } else if (strcmp(req->path, "/redirect") == 0) {
        resp->status = 302;
        if (mv_http_response_header(resp, "Location", "/echo") != MV_OK)
            resp->status = 500;
    } else if (strcmp(req->path, "/body") == 0) {
        /* What the handler was given of the body, and what verification says about it. */
        mv_credential cred;
        mv_err rc = mv_http_verify(ctx->verifier, req, (uint64_t)time(NULL), &cred);
        resp->status = 200;
        if (mv_buf_printf(&resp->body, "len=%zu verify=%s first=%c last=%c", req->body_len,
                          rc == MV_OK ? "ok" : "refused", req->body_len ? req->body[0] : '-',
                          req->body_len ? req->body[req->body_len - 1] : '-') != MV_OK)
            resp->status = 500;
    } else if (strcmp(req->path, "/noresp") == 0) {
        /* leaves status 0: the server must answer 500 */
    } else {
        mv_http_respond_json_error(resp, 404, "not \"found\"\n");
    }
}

/* A test gate: lets a body be buffered whole iff the request carries "X-Allow: yes". */
static int test_gate(void *vctx, const mv_http_request *req)
{
    srv_ctx *ctx = vctx;
    const char *allow = mv_http_header(req, "X-Allow");
    pthread_mutex_lock(&ctx->lock);
    ctx->gate_calls++;
    ctx->gate_body_len = req->body_len;
    pthread_mutex_unlock(&ctx->lock);
    return allow && strcmp(allow, "yes") == 0;
}

typedef struct harness {
    srv_ctx ctx;
    mv_metrics *metrics;
    mv_http_server *srv;
    uint16_t port;
    uint8_t hpk[32], hsk[64], upk[32], usk[64];
    char cred[MV_CRED_B64_MAX + 1];
} harness;

/* Starts a server on 127.0.0.1; tweak (optional) adjusts its configuration first. */
static harness *start_with(void (*tweak)(mv_http_config *cfg, harness *h))
{
    harness *h = mv_calloc(1, sizeof *h);
    assert_non_null(h);
    assert_int_equal(pthread_mutex_init(&h->ctx.lock, NULL), 0);
    assert_int_equal(mv_sign_keypair(h->hpk, h->hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(h->upk, h->usk), MV_OK);
    mv_credential c;
    memset(&c, 0, sizeof c);
    memcpy(c.subject, h->upk, 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.issued_at = (uint64_t)time(NULL) - 10;
    c.expires_at = c.issued_at + 3600;
    assert_int_equal(mv_credential_issue(&c, h->hpk, h->hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&c, h->cred, sizeof h->cred), MV_OK);
    assert_int_equal(mv_auth_verifier_new(h->hpk, 300, 10000, &h->ctx.verifier), MV_OK);
    assert_int_equal(mv_metrics_new(&h->metrics), MV_OK);
    mv_http_config cfg = {
        .listen = "127.0.0.1:0",
        .max_body = MAX_BODY,
        .threads = 4,
        .handler = handler,
        .ctx = &h->ctx,
        .metrics = h->metrics,
        .component = "mvtest",
    };
    if (tweak)
        tweak(&cfg, h);
    assert_int_equal(mv_http_server_start(&cfg, &h->srv), MV_OK);
    h->port = mv_http_server_port(h->srv);
    assert_int_equal(mv_auth_verifier_add_listen(h->ctx.verifier, "127.0.0.1:0", h->port), MV_OK);
    assert_true(h->port > 0);
    return h;
}

static harness *start(void) { return start_with(NULL); }

static void stop(harness *h)
{
    mv_http_server_stop(h->srv);
    mv_metrics_free(h->metrics);
    mv_auth_verifier_free(h->ctx.verifier);
    pthread_mutex_destroy(&h->ctx.lock);
    mv_free(h);
}

static int handler_calls(harness *h)
{
    pthread_mutex_lock(&h->ctx.lock);
    int n = h->ctx.handler_calls;
    pthread_mutex_unlock(&h->ctx.lock);
    return n;
}

static void url(char *out, size_t cap, const harness *h, const char *target)
{
    snprintf(out, cap, "http://127.0.0.1:%u%s", (unsigned)h->port, target);
}

/* One call, run alone. */
static void run1(mv_httpc_call *c) { assert_int_equal(mv_httpc_run(c, 1), MV_OK); }

/* Value of `name{labels} N` in a metrics text, or -1. */
static long long metric_value(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);
    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
        p += n;
    }
    return -1;
}

static long long fetch_metric(harness *h, const char *series)
{
    char u[128];
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/metrics");
    c.url = u;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    if (!strstr((char *)c.response.ptr, "# TYPE mvtest_http_requests_total counter\n"))
        fail_msg("metrics: %s", (char *)c.response.ptr);
    assert_non_null(strstr((char *)c.response.ptr, "# TYPE mvtest_http_request_duration_seconds histogram\n"));
    long long v = metric_value((char *)c.response.ptr, series);
    mv_httpc_call_clear(&c);
    return v;
}

static void test_basic(void **state)
{
    (void)state;
    harness *h = start();
    char u[256];
    mv_httpc_call c;

    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/healthz");
    c.url = u;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    assert_int_equal(c.response.len, 3);
    assert_string_equal((char *)c.response.ptr, "ok\n");
    assert_int_equal(c.retry_after, -1);
    mv_httpc_call_clear(&c);
    assert_int_equal(handler_calls(h), 0); /* built in, not the handler */

    /* Echo: method, raw target (not decoded), path, header lookup, remote, body. */
    static const char *const hdrs[] = {"x-probe: hello there", NULL};
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/echo?a=1&b=%2F");
    c.url = u;
    c.method = "POST";
    c.headers = hdrs;
    c.body = (const uint8_t *)"payload\0bin";
    c.body_len = 11;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    const char want[] = "POST\n/echo?a=1&b=%2F\n/echo\nhello there\n127.0.0.1\npayload\0bin";
    assert_int_equal(c.response.len, sizeof want - 1);
    assert_memory_equal(c.response.ptr, want, sizeof want - 1);
    mv_httpc_call_clear(&c);

    /* PUT with an empty body and DELETE without one. */
    mv_httpc_call_init(&c);
    c.url = u;
    c.method = "PUT";
    run1(&c);
    assert_int_equal(c.status, 200);
    assert_non_null(strstr((char *)c.response.ptr, "PUT\n"));
    mv_httpc_call_clear(&c);
    mv_httpc_call_init(&c);
    c.url = u;
    c.method = "DELETE";
    run1(&c);
    assert_int_equal(c.status, 200);
    assert_memory_equal(c.response.ptr, "DELETE\n", 7);
    mv_httpc_call_clear(&c);

    /* 404 with a properly escaped JSON error. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/nope");
    c.url = u;
    run1(&c);
    assert_int_equal(c.status, 404);
    assert_string_equal((char *)c.response.ptr, "{\"error\":\"not \\\"found\\\"\\n\"}");
    mv_httpc_call_clear(&c);

    /* 429 with Retry-After. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/limited");
    c.url = u;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 429);
    assert_int_equal(c.retry_after, 7);
    assert_string_equal((char *)c.response.ptr, "{\"error\":\"slow down\"}");
    mv_httpc_call_clear(&c);

    /* A handler that produces nothing gives 500. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/noresp");
    c.url = u;
    run1(&c);
    assert_int_equal(c.status, 500);
    mv_httpc_call_clear(&c);

    /* Redirects are not followed. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/redirect");
    c.url = u;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 302);
    assert_int_equal(c.response.len, 0);
    mv_httpc_call_clear(&c);

    /* /metrics: counters per code; every request counted, including /metrics itself. */
    long long ok1 = fetch_metric(h, "mvtest_http_requests_total{code=\"200\"}");
    assert_int_equal(ok1, 4); /* healthz, echo, PUT, DELETE (counted when queued, so not itself) */
    assert_int_equal(fetch_metric(h, "mvtest_http_requests_total{code=\"429\"}"), 1);
    assert_int_equal(fetch_metric(h, "mvtest_http_requests_total{code=\"404\"}"), 1);
    long long ok2 = fetch_metric(h, "mvtest_http_requests_total{code=\"200\"}");
    assert_int_equal(ok2, ok1 + 3);
    long long count = fetch_metric(h, "mvtest_http_request_duration_seconds_count");
    /* Everything answered before this fetch: 8 x 200, 404, 429, 500, 302. */
    assert_int_equal(count, 12);
    stop(h);
}

static void test_signed_end_to_end(void **state)
{
    (void)state;
    harness *h = start();
    char u[256];
    mv_httpc_call c;
    const uint8_t body[] = "{\"resourceType\":\"MedicationRequest\"}";
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};

    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/auth?dept=cardiology&x=%20y");
    c.url = u;
    c.method = "POST";
    c.headers = hdrs;
    c.body = body;
    c.body_len = sizeof body - 1;
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    assert_string_equal((char *)c.response.ptr, "doctor");
    /* The identical request again: a replay. */
    run1(&c);
    assert_int_equal(c.status, 409);
    assert_non_null(strstr((char *)c.response.ptr, "\"error\""));
    /* Re-signed (fresh nonce): accepted. */
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    run1(&c);
    assert_int_equal(c.status, 200);
    /* Body changed after signing. */
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    c.body_len--;
    run1(&c);
    assert_int_equal(c.status, 401);
    c.body_len++;
    /* Signed for another URL (path differs) than the one requested. */
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    url(u, sizeof u, h, "/auth?dept=oncology&x=%20y");
    run1(&c);
    assert_int_equal(c.status, 401);
    /* Stale date. */
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL) - 1000), MV_OK);
    run1(&c);
    assert_int_equal(c.status, 401);
    assert_non_null(strstr((char *)c.response.ptr, mv_strerror(MV_ERR_EXPIRED)));
    mv_httpc_call_clear(&c);
    /* Unsigned. */
    mv_httpc_call_init(&c);
    c.url = u;
    run1(&c);
    assert_int_equal(c.status, 401);
    mv_httpc_call_clear(&c);
    /* A GET to a URL without a path signs "/" + query; the server sees the same target. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/auth");
    c.url = u;
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    run1(&c);
    assert_int_equal(c.status, 200);
    /* Signing refuses unusable input. */
    c.url = "ftp://127.0.0.1/auth";
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, 1), MV_ERR_INVAL);
    c.url = u;
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, "bad\r\nX: y", 1), MV_ERR_INVAL);
    assert_int_equal(mv_httpc_sign(&c, h->upk, h->hsk, h->cred, 1), MV_ERR_INVAL);
    mv_httpc_call_clear(&c);
    stop(h);
}

static void test_parallel(void **state)
{
    (void)state;
    harness *h = start();
    enum { N = 20 };
    mv_httpc_call *calls = mv_calloc(N, sizeof *calls);
    char bodies[N][32], u[128];
    assert_non_null(calls);
    url(u, sizeof u, h, "/echo");
    for (int i = 0; i < N; i++) {
        mv_httpc_call_init(&calls[i]);
        snprintf(bodies[i], sizeof bodies[i], "call number %d", i);
        calls[i].url = u;
        calls[i].method = "POST";
        calls[i].body = (const uint8_t *)bodies[i];
        calls[i].body_len = strlen(bodies[i]);
        calls[i].timeout_ms = 10000;
    }
    assert_int_equal(mv_httpc_run(calls, N), MV_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].rc, MV_OK);
        assert_int_equal(calls[i].status, 200);
        size_t bl = strlen(bodies[i]);
        assert_true(calls[i].response.len > bl);
        assert_memory_equal(calls[i].response.ptr + calls[i].response.len - bl, bodies[i], bl);
        mv_httpc_call_clear(&calls[i]);
    }
    mv_free(calls);
    assert_int_equal(handler_calls(h), N);
    assert_int_equal(mv_httpc_run(NULL, 0), MV_OK);
    stop(h);
}

/* Sends raw bytes to the server and reads the answer until the server closes (or 5 s). */
static char *raw_exchange(uint16_t port, const char *req, size_t req_len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t off = 0;
    while (off < req_len) {
        ssize_t w = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close early (e.g. 413): read what it said */
        off += (size_t)w;
    }
    size_t cap = 65536, len = 0;
    char *out = mv_malloc(cap);
    assert_non_null(out);
    for (;;) {
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == cap - 1)
            break;
    }
    out[len] = 0;
    close(fd);
    return out;
}

static void test_limits_and_wire(void **state)
{
    (void)state;
    harness *h = start();
    char u[128];
    mv_httpc_call c;
    uint8_t *big = mv_calloc(1, MAX_BODY + 1);
    assert_non_null(big);

    /* Content-Length over max_body: 413 JSON, handler not called. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/echo");
    c.url = u;
    c.method = "POST";
    c.body = big;
    c.body_len = MAX_BODY + 1;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 413);
    assert_string_equal((char *)c.response.ptr, "{\"error\":\"request body too large\"}");
    /* Exactly max_body is fine. */
    c.body_len = MAX_BODY;
    run1(&c);
    assert_int_equal(c.status, 200);
    mv_httpc_call_clear(&c);
    assert_int_equal(handler_calls(h), 1);

    /* Response headers on the wire: Content-Length and Cache-Control: no-store. */
    const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *resp = raw_exchange(h->port, get, sizeof get - 1);
    assert_memory_equal(resp, "HTTP/1.1 200", 12);
    assert_non_null(strstr(resp, "\r\nContent-Length: 3\r\n"));
    assert_non_null(strstr(resp, "\r\nCache-Control: no-store\r\n"));
    assert_non_null(strstr(resp, "\r\n\r\nok\n"));
    mv_free(resp);

    /* Chunked body (no Content-Length) counted while receiving: 413, handler not called. */
    mv_buf req;
    mv_buf_init(&req, 1 << 20);
    assert_int_equal(mv_buf_puts(&req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                       "Content-Type: application/octet-stream\r\n"
                                       "Connection: close\r\n\r\n"),
                     MV_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mv_buf_puts(&req, "7d0\r\n"), MV_OK); /* 2000 bytes */
        assert_int_equal(mv_buf_append(&req, big, 2000), MV_OK);
        assert_int_equal(mv_buf_puts(&req, "\r\n"), MV_OK);
    }
    assert_int_equal(mv_buf_puts(&req, "0\r\n\r\n"), MV_OK);
    resp = raw_exchange(h->port, (char *)req.ptr, req.len);
    assert_memory_equal(resp, "HTTP/1.1 413", 12);
    assert_non_null(strstr(resp, "\r\nCache-Control: no-store\r\n"));
    mv_free(resp);
    mv_buf_clear(&req);
    assert_int_equal(handler_calls(h), 1);

    /* A small chunked body is accepted. */
    const char small[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                         "Content-Type: application/json; charset=utf-8\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n";
    resp = raw_exchange(h->port, small, sizeof small - 1);
    assert_memory_equal(resp, "HTTP/1.1 200", 12);
    assert_non_null(strstr(resp, "\r\n\r\nPOST\n/echo\n/echo\n-\n127.0.0.1\nhello"));
    mv_free(resp);
    assert_int_equal(handler_calls(h), 2);

    /* Only POST and PUT may carry a body. */
    const char getbody[] = "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    resp = raw_exchange(h->port, getbody, sizeof getbody - 1);
    assert_memory_equal(resp, "HTTP/1.1 400", 12);
    mv_free(resp);
    const char delbody[] =
        "DELETE /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    resp = raw_exchange(h->port, delbody, sizeof delbody - 1);
    assert_memory_equal(resp, "HTTP/1.1 400", 12);
    mv_free(resp);
    /* Absolute-form target and a malformed header line: refused, nothing leaks. */
    const char absform[] = "GET http://x/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    resp = raw_exchange(h->port, absform, sizeof absform - 1);
    assert_memory_equal(resp, "HTTP/1.1 400", 12);
    mv_free(resp);
    const char badhdr[] = "GET /echo HTTP/1.1\r\nHost: x\r\nNo colon here\r\nConnection: close\r\n\r\n";
    resp = raw_exchange(h->port, badhdr, sizeof badhdr - 1);
    assert_memory_equal(resp, "HTTP/1.1 400", 12);
    mv_free(resp);
    assert_int_equal(handler_calls(h), 2);

    /* Response cap on the client. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/big");
    c.url = u;
    c.response.max = 100000;
    run1(&c);
    assert_int_equal(c.rc, MV_ERR_TOO_LARGE);
    c.response.max = 4 << 20;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.response.len, 32 * 65536);
    mv_httpc_call_clear(&c);

    /* Client refuses other protocols and malformed calls. */
    mv_httpc_call_init(&c);
    c.url = "file:///etc/passwd";
    run1(&c);
    assert_int_equal(c.rc, MV_ERR_NET);
    assert_int_equal(c.response.len, 0);
    c.url = u;
    c.method = "get";
    assert_int_equal(mv_httpc_run(&c, 1), MV_ERR_INVAL);
    c.method = NULL;
    static const char *const inject[] = {"X-A: 1\r\nX-B: 2", NULL};
    c.headers = inject;
    assert_int_equal(mv_httpc_run(&c, 1), MV_ERR_INVAL);
    mv_httpc_call_clear(&c);
    mv_free(big);
    stop(h);
}

static void test_net_errors(void **state)
{
    (void)state;
    harness *h = start();
    char u[128];
    mv_httpc_call c;

    /* A port nobody listens on: bind one, learn it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    mv_httpc_call_init(&c);
    snprintf(u, sizeof u, "http://127.0.0.1:%u/healthz", (unsigned)ntohs(sa.sin_port));
    c.url = u;
    c.timeout_ms = 5000;
    run1(&c);
    assert_int_equal(c.rc, MV_ERR_NET);
    assert_int_equal(c.status, 0);
    mv_httpc_call_clear(&c);

    /* The handler sleeps 1.5 s; the client gives up after 300 ms. */
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/sleep");
    c.url = u;
    c.timeout_ms = 300;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run1(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(c.rc, MV_ERR_TIMEOUT);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    mv_httpc_call_clear(&c);
    /* Stop waits for the sleeping handler to finish, then frees everything (ASan: no leaks). */
    stop(h);
}

static void *slow_call(void *p)
{
    mv_httpc_call *c = p;
    if (mv_httpc_run(c, 1) != MV_OK)
        c->rc = MV_ERR_BAD_STATE;
    return NULL;
}

/* Stopping while a request is in the handler: the response is still delivered. */
static void test_graceful_stop(void **state)
{
    (void)state;
    harness *h = start();
    char u[128];
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/sleep");
    c.url = u;
    c.timeout_ms = 5000;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_call, &c), 0);
    while (handler_calls(h) == 0)
        sleep_ms(10);
    stop(h); /* returns only after the sleeping handler answered */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    mv_httpc_call_clear(&c);
}

static void test_listen_and_lifecycle(void **state)
{
    (void)state;
    srv_ctx ctx = {0};
    mv_http_server *s = NULL, *s2 = NULL;
    mv_http_config cfg = {.listen = "127.0.0.1:0", .max_body = 10, .handler = handler, .ctx = &ctx};
    static const char *bad[] = {"localhost:80",  "127.0.0.1",       "::1:80",   "[::1]:80", "127.0.0.1:65536",
                                "127.0.0.1:-1",  "1.2.3:80",        ":80",      "127.0.0.1:",
                                "127.0.0.1:8x0", "127.0.0.1:000080", "0x7f.0.0.1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cfg.listen = bad[i];
        if (mv_http_server_start(&cfg, &s) != MV_ERR_INVAL)
            fail_msg("listen %s accepted", bad[i]);
        assert_null(s);
    }
    cfg.listen = "127.0.0.1:0";
    cfg.component = "bad-name";
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    cfg.component = NULL;
    cfg.handler = NULL;
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    cfg.handler = handler;
    /* Start and stop while idle; a second server on the same port fails. */
    cfg.threads = 1;
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_OK);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)mv_http_server_port(s));
    cfg.listen = listen;
    assert_int_equal(mv_http_server_start(&cfg, &s2), MV_ERR_NET);
    assert_null(s2);
    mv_http_server_stop(s);
    mv_http_server_stop(NULL);
    assert_int_equal(mv_http_server_port(NULL), 0);
    /* Without metrics, /metrics goes to the handler (404 here). */
    cfg.listen = "127.0.0.1:0";
    assert_int_equal(pthread_mutex_init(&ctx.lock, NULL), 0);
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_OK);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/metrics", (unsigned)mv_http_server_port(s));
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    c.url = u;
    run1(&c);
    assert_int_equal(c.status, 404);
    mv_httpc_call_clear(&c);
    mv_http_server_stop(s);
    pthread_mutex_destroy(&ctx.lock);

    /* Response header validation. */
    mv_http_response r;
    memset(&r, 0, sizeof r);
    mv_buf_init(&r.body, 1000);
    assert_int_equal(mv_http_response_header(&r, "X-Ok", "a value\twith tab"), MV_OK);
    assert_int_equal(mv_http_response_header(&r, "X-Bad", "a\r\nInjected: 1"), MV_ERR_INVAL);
    assert_int_equal(mv_http_response_header(&r, "X Bad", "v"), MV_ERR_INVAL);
    assert_int_equal(mv_http_response_header(&r, "content-length", "5"), MV_ERR_INVAL);
    assert_int_equal(mv_http_response_header(&r, "Cache-Control", "public"), MV_ERR_INVAL);
    for (int i = 1; i < MV_HTTP_MAX_HEADERS; i++)
        assert_int_equal(mv_http_response_header(&r, "X-N", "v"), MV_OK);
    assert_int_equal(mv_http_response_header(&r, "X-N", "v"), MV_ERR_TOO_LARGE);
    mv_http_respond_json_error(&r, 400, "bad \x01 thing");
    assert_int_equal(r.status, 400);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal((char *)r.body.ptr, "{\"error\":\"bad \\u0001 thing\"}");
    mv_buf_clear(&r.body);
}

/* ---- issue 11: the body gate, strict framing, content types, metrics token, deadlines ---- */

static void tweak_gate(mv_http_config *cfg, harness *h)
{
    cfg->max_body = 1 << 20;
    cfg->body_gate = test_gate;
    cfg->body_gate_ctx = &h->ctx;
}

static void tweak_big_no_gate(mv_http_config *cfg, harness *h)
{
    (void)h;
    cfg->max_body = 1 << 20;
}

static int gate_calls(harness *h)
{
    pthread_mutex_lock(&h->ctx.lock);
    int n = h->ctx.gate_calls;
    pthread_mutex_unlock(&h->ctx.lock);
    return n;
}

/* want: the handler's answer (200), or NULL for the gate's refusal (413, handler not called). */
static void check_body_answer(const mv_httpc_call *c, const char *want)
{
    assert_int_equal(c->rc, MV_OK);
    if (!want) {
        assert_int_equal(c->status, 413);
        assert_non_null(strstr((const char *)c->response.ptr, "signature that verifies from its headers"));
        return;
    }
    assert_int_equal(c->status, 200);
    if (strcmp((const char *)c->response.ptr, want) != 0)
        fail_msg("got \"%s\", want \"%s\"", (const char *)c->response.ptr, want);
}

/* POSTs body[0..n) to /body (optionally with X-Allow: yes, optionally signed over the first
 * sign_len bytes) and checks the answer against want (NULL: refused by the gate). */
static void post_body(harness *h, const uint8_t *body, size_t n, int allow, size_t sign_len, const char *want)
{
    char u[128];
    static const char *const allow_hdrs[] = {"X-Allow: yes", NULL};
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/body");
    c.url = u;
    c.method = "POST";
    c.headers = allow ? allow_hdrs : NULL;
    c.body = body;
    c.body_len = sign_len;
    if (sign_len)
        assert_int_equal(mv_httpc_sign(&c, h->upk, h->usk, h->cred, (uint64_t)time(NULL)), MV_OK);
    c.body_len = n;
    c.timeout_ms = 20000;
    run1(&c);
    check_body_answer(&c, want);
    mv_httpc_call_clear(&c);
}

static void test_body_gate(void **state)
{
    (void)state;
    enum { BIG = 200 << 10 };
    uint8_t *body = mv_malloc(BIG);
    assert_non_null(body);
    memset(body, 'a', BIG);
    body[BIG - 1] = 'z';
    harness *h = start_with(tweak_gate);

    /* Refused by the gate: 413 before the body, the handler never called; asked once, at
     * header time (no body yet). */
    int calls0 = h->ctx.handler_calls;
    post_body(h, body, BIG, 0, 0, NULL);
    assert_int_equal(gate_calls(h), 1);
    assert_int_equal(h->ctx.gate_body_len, 0);
    assert_int_equal(h->ctx.handler_calls, calls0);
    /* Allowed: the whole body. */
    post_body(h, body, BIG, 1, 0, "len=204800 verify=refused first=a last=z");
    assert_int_equal(gate_calls(h), 2);
    /* Up to MV_HTTP_UNVERIFIED_BODY_MAX the gate is not asked. */
    post_body(h, body, 1000, 0, 0, "len=1000 verify=refused first=a last=a");
    post_body(h, body, MV_HTTP_UNVERIFIED_BODY_MAX, 0, 0, "len=65536 verify=refused first=a last=a");
    assert_int_equal(gate_calls(h), 2);
    /* A correctly signed request verifies when the gate lets its body in. */
    post_body(h, body, BIG, 1, BIG, "len=204800 verify=ok first=a last=z");
    assert_int_equal(gate_calls(h), 3);

    /* A chunked body growing past 64 KiB: the gate is asked then, once, and a refusal closes
     * the connection at once (no response can be queued in the middle of an upload, and
     * reading on would let the peer hold the slot); the handler is never called. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(h->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char head[] = "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Type: application/octet-stream\r\n\r\n";
    assert_true(send(fd, head, sizeof head - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof head - 1));
    int sent = 0, closed = 0;
    char chunk[4000 + 16];
    memcpy(chunk, "fa0\r\n", 5);
    memcpy(chunk + 5, body, 4000);
    memcpy(chunk + 4005, "\r\n", 2);
    for (; sent < 50 && !closed; sent++) {
        if (send(fd, chunk, 4007, MSG_NOSIGNAL) != 4007)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        closed = poll(&p, 1, 100) == 1;
    }
    char ans[64];
    assert_true(closed);
    assert_true(recv(fd, ans, sizeof ans, 0) <= 0); /* closed without an answer */
    assert_true(sent * 4000 > (int)MV_HTTP_UNVERIFIED_BODY_MAX && sent * 4000 <= (int)MV_HTTP_UNVERIFIED_BODY_MAX + 4000);
    close(fd);
    assert_int_equal(gate_calls(h), 4);
    assert_int_equal(h->ctx.handler_calls, calls0 + 4);
    /* A peer announcing a large body it means to trickle (finding 4 of issue 11: such uploads
     * held their slot for hours) is answered 413 and closed at once, before any of it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char announce[] = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                                   "Content-Type: application/octet-stream\r\n\r\nabc";
    assert_true(send(fd, announce, sizeof announce - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof announce - 1));
    struct pollfd pa = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pa, 1, 2000), 1);
    char ann[4096];
    ssize_t an = recv(fd, ann, sizeof ann - 1, 0);
    assert_true(an > 12);
    ann[an] = 0;
    assert_memory_equal(ann, "HTTP/1.1 413", 12);
    assert_non_null(strstr(ann, "signature that verifies from its headers"));
    while ((an = recv(fd, ann, sizeof ann, 0)) > 0) {
    }
    assert_true(an == 0 || errno == ECONNRESET); /* the server closed it */
    close(fd);
    assert_int_equal(gate_calls(h), 5);
    char *resp;

    /* Over max_body: 413 whatever the gate says. */
    const char huge[] = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
                        "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    resp = raw_exchange(h->port, huge, sizeof huge - 1);
    assert_memory_equal(resp, "HTTP/1.1 413", 12);
    mv_free(resp);
    stop(h);

    /* Without a gate, every body up to max_body is buffered (services without one keep
     * working). */
    h = start_with(tweak_big_no_gate);
    post_body(h, body, BIG, 0, 0, "len=204800 verify=refused first=a last=z");
    stop(h);
    mv_free(body);
}

static void tweak_signed_gate(mv_http_config *cfg, harness *h)
{
    cfg->max_body = 1 << 20;
    cfg->body_gate = mv_http_gate_signed;
    cfg->body_gate_ctx = h->ctx.verifier;
}

/* POSTs body[0..n) to /body with MV-* headers signed by the harness user over the whole body,
 * then altered: flip (one hex digit of MV-Signature changed), no_digest (MV-Content-SHA256
 * left out), stranger (the credential's key, signed by another key). */
static void post_signed_raw(harness *h, const uint8_t *body, size_t n, int flip, int no_digest, int stranger,
                            const char *want)
{
    char u[128], origin[MV_AUTH_MAX_TARGET + 1], hd[7][4400];
    const char *hdrs[8] = {0};
    uint8_t opk[32], osk[64];
    mv_signed_headers sh;
    mv_httpc_call c;
    url(u, sizeof u, h, "/body");
    assert_int_equal(mv_auth_origin(u, origin, sizeof origin), MV_OK);
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    assert_int_equal(mv_auth_sign_request(&sh, stranger ? opk : h->upk, stranger ? osk : h->usk, origin, "POST",
                                          "/body", body, n, (uint64_t)time(NULL)),
                     MV_OK);
    if (flip)
        sh.signature[7] = sh.signature[7] == '0' ? '1' : '0';
    char khex[65];
    assert_int_equal(mv_hex_encode(khex, sizeof khex, h->upk, 32), MV_OK);
    size_t k = 0;
    snprintf(hd[k], sizeof hd[k], "MV-Key: %s", khex), hdrs[k] = hd[k], k++;
    snprintf(hd[k], sizeof hd[k], "MV-Date: %s", sh.date), hdrs[k] = hd[k], k++;
    snprintf(hd[k], sizeof hd[k], "MV-Nonce: %s", sh.nonce), hdrs[k] = hd[k], k++;
    snprintf(hd[k], sizeof hd[k], "MV-Target: %s", sh.target), hdrs[k] = hd[k], k++;
    snprintf(hd[k], sizeof hd[k], "MV-Credential: %s", h->cred), hdrs[k] = hd[k], k++;
    snprintf(hd[k], sizeof hd[k], "MV-Signature: %s", sh.signature), hdrs[k] = hd[k], k++;
    if (!no_digest)
        snprintf(hd[k], sizeof hd[k], "MV-Content-SHA256: %s", sh.body_sha256), hdrs[k] = hd[k], k++;
    mv_httpc_call_init(&c);
    c.url = u;
    c.method = "POST";
    c.headers = hdrs;
    c.body = body;
    c.body_len = n;
    c.timeout_ms = 20000;
    run1(&c);
    check_body_answer(&c, want);
    mv_httpc_call_clear(&c);
}

/* mv_http_gate_signed, the gate of every daemon: a large body is kept only for a request whose
 * signature verifies from its headers. A valid credential alone (a stolen one, say) is not
 * enough: the gate that checked only the credential kept these bodies. */
static void test_body_gate_signed(void **state)
{
    (void)state;
    enum { BIG = 200 << 10 };
    uint8_t *body = mv_malloc(BIG);
    assert_non_null(body);
    memset(body, 'a', BIG);
    body[BIG - 1] = 'z';
    harness *h = start_with(tweak_signed_gate);
    post_signed_raw(h, body, BIG, 0, 0, 0, "len=204800 verify=ok first=a last=z");
    /* The user's credential with a signature that does not verify, by her key or another's. */
    post_signed_raw(h, body, BIG, 1, 0, 0, NULL);
    post_signed_raw(h, body, BIG, 0, 0, 1, NULL);
    /* Without MV-Content-SHA256 nothing can be checked before the body: refused. */
    post_signed_raw(h, body, BIG, 0, 1, 0, NULL);
    /* Unsigned: refused. */
    post_body(h, body, BIG, 0, 0, NULL);
    stop(h);
    mv_free(body);
}

/* Number of status lines in a raw response: lines starting "HTTP/1." anywhere in it. */
static int status_lines(const char *resp)
{
    int n = 0;
    for (const char *p = resp; (p = strstr(p, "HTTP/1.")) != NULL; p++)
        if (p == resp || p[-1] == '\n')
            n++;
    return n;
}

/* Checks that resp is exactly one well-formed response with status want: one status line,
 * and a body of exactly Content-Length bytes. */
static void one_response(const char *resp, int want, const char *what)
{
    char head[16];
    snprintf(head, sizeof head, "HTTP/1.1 %03d", want);
    if (strncmp(resp, head, 12) != 0 || status_lines(resp) != 1)
        fail_msg("%s: want one %d response, got: %s", what, want, resp);
    const char *cl = strstr(resp, "\r\nContent-Length: ");
    const char *end = strstr(resp, "\r\n\r\n");
    assert_non_null(cl);
    assert_non_null(end);
    assert_true(cl < end);
    if ((size_t)strtoul(cl + 18, NULL, 10) != strlen(end + 4))
        fail_msg("%s: body length differs from Content-Length: %s", what, resp);
}

static void test_strict_framing(void **state)
{
    (void)state;
    harness *h = start();
    static const struct {
        const char *req;
        int status;
        const char *what;
    } cases[] = {
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nContent-Type: application/json\r\n\r\nhello", 400,
         "negative content-length"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\nContent-Type: application/json\r\n\r\nhello", 400,
         "content-length list"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\nContent-Type: application/json\r\n\r\nhello", 400,
         "malformed content-length"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n"
         "Content-Type: application/json\r\n\r\nhello",
         413, "content-length over 64 bits"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
         "Content-Type: application/json\r\n\r\nhello",
         400, "two differing content-lengths"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
         "Content-Type: application/json\r\n\r\nhello",
         400, "two equal content-lengths"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
         "Content-Type: application/json\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         400, "content-length with transfer-encoding"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
         "Content-Type: application/json\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         400, "transfer-encoding twice"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
         "Content-Type: application/json\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         501, "transfer-encoding gzip"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 415, "body without content-type"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 415,
         "text/plain body"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 415,
         "chunked body without content-type"},
        {"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: multipart/form-data\r\n\r\nhello", 415,
         "multipart body"},
    };
    int calls = handler_calls(h);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *resp = raw_exchange(h->port, cases[i].req, strlen(cases[i].req));
        one_response(resp, cases[i].status, cases[i].what);
        assert_non_null(strstr(resp, "\r\nContent-Type: application/json\r\n"));
        assert_non_null(strstr(resp, "\r\nCache-Control: no-store\r\n"));
        mv_free(resp);
    }
    assert_int_equal(handler_calls(h), calls); /* none reached the handler */

    /* Accepted: a listed type in any case with parameters, and no type on an empty body. */
    static const char *const ok[] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: Application/JSON ; charset=utf-8\r\n"
        "Connection: close\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Connection: close\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char *resp = raw_exchange(h->port, ok[i], strlen(ok[i]));
        one_response(resp, 200, ok[i]);
        mv_free(resp);
    }
    assert_int_equal(handler_calls(h), calls + 3);
    /* The answers libmicrohttpd would have garbled are counted like every other. */
    assert_int_equal(fetch_metric(h, "mvtest_http_requests_total{code=\"413\"}"), 1);
    assert_int_equal(fetch_metric(h, "mvtest_http_requests_total{code=\"415\"}"), 4);
    assert_int_equal(fetch_metric(h, "mvtest_http_requests_total{code=\"400\"}"), 7);
    stop(h);

    /* A configured allowlist replaces the default; malformed lists are refused. */
    srv_ctx ctx = {0};
    mv_http_server *s = NULL;
    static const char *const only_json[] = {"application/json", NULL};
    static const char *const upper[] = {"Application/json", NULL};
    static const char *const noslash[] = {"json", NULL};
    mv_http_config cfg = {.listen = "127.0.0.1:0", .max_body = 100, .handler = handler, .ctx = &ctx};
    cfg.content_types = upper;
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    cfg.content_types = noslash;
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    cfg.content_types = only_json;
    assert_int_equal(pthread_mutex_init(&ctx.lock, NULL), 0);
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_OK);
    const char octet[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\nx";
    char *resp = raw_exchange(mv_http_server_port(s), octet, sizeof octet - 1);
    one_response(resp, 415, "octet-stream refused by a json-only server");
    mv_free(resp);
    mv_http_server_stop(s);
    pthread_mutex_destroy(&ctx.lock);
}

#define TOKEN "0123456789abcdef0123456789abcdef"

static void tweak_token(mv_http_config *cfg, harness *h)
{
    (void)h;
    cfg->metrics_token = TOKEN;
}

static void tweak_token_private(mv_http_config *cfg, harness *h)
{
    tweak_token(cfg, h);
    cfg->metrics_private_only = 1;
}

/* GET /metrics with an Authorization header (NULL = none); returns the status, the body in out. */
static long get_metrics(harness *h, const char *authz, char **out)
{
    char u[128], hdr[512];
    const char *hdrs[2] = {NULL, NULL};
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/metrics");
    c.url = u;
    if (authz) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", authz);
        hdrs[0] = hdr;
        c.headers = hdrs;
    }
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    long status = c.status;
    *out = mv_strdup(c.response.ptr ? (char *)c.response.ptr : "");
    mv_httpc_call_clear(&c);
    return status;
}

static void test_metrics_token(void **state)
{
    (void)state;
    harness *h = start_with(tweak_token);
    char *m;
    assert_int_equal(mv_metrics_counter_add(h->metrics, "mvtest_records", "private", NULL, 42), MV_OK);
    assert_int_equal(get_metrics(h, NULL, &m), 200); /* counted: the families exist from now on */
    mv_free(m);
    /* Without credentials: the request counter and durations only. */
    assert_int_equal(get_metrics(h, NULL, &m), 200);
    assert_non_null(strstr(m, "# TYPE mvtest_http_requests_total counter\n"));
    assert_non_null(strstr(m, "# TYPE mvtest_http_request_duration_seconds histogram\n"));
    assert_null(strstr(m, "mvtest_records"));
    assert_null(strstr(m, "connections"));
    mv_free(m);
    /* With the token (scheme in any case): everything. */
    assert_int_equal(get_metrics(h, "Bearer " TOKEN, &m), 200);
    assert_non_null(strstr(m, "\nmvtest_records 42\n"));
    assert_non_null(strstr(m, "# TYPE mvtest_http_requests_total counter\n"));
    mv_free(m);
    assert_int_equal(get_metrics(h, "bearer " TOKEN, &m), 200);
    assert_non_null(strstr(m, "\nmvtest_records 42\n"));
    mv_free(m);
    /* A wrong, truncated or differently-schemed credential: 401, nothing rendered. */
    static const char *const wrong[] = {"Bearer " TOKEN "0", "Bearer 0123456789abcdef0123456789abcdee",
                                        "Bearer 0123456789abcdef", "Basic " TOKEN, "Bearer", TOKEN};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        if (get_metrics(h, wrong[i], &m) != 401)
            fail_msg("Authorization: %s accepted", wrong[i]);
        assert_null(strstr(m, "mvtest"));
        mv_free(m);
    }
    stop(h);

    /* metrics_private_only: nothing without the token. */
    h = start_with(tweak_token_private);
    assert_int_equal(get_metrics(h, NULL, &m), 401);
    mv_free(m);
    assert_int_equal(get_metrics(h, "Bearer " TOKEN, &m), 200);
    assert_non_null(strstr(m, "mvtest_http_requests_total"));
    mv_free(m);
    stop(h);

    /* Tokens must be a token68 of 16..256 characters. */
    srv_ctx ctx = {0};
    mv_http_server *s = NULL;
    mv_http_config cfg = {.listen = "127.0.0.1:0", .handler = handler, .ctx = &ctx, .metrics_token = "short"};
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    cfg.metrics_token = "0123456789abcdef 0123456789abcdef";
    assert_int_equal(mv_http_server_start(&cfg, &s), MV_ERR_INVAL);
    assert_null(s);
}

static double now_s(void)
{
    return mv_mono_seconds();
}

/* A connection to port from source address src (e.g. "127.0.0.2"). */
static int connect_from(uint16_t port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    sa.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* 1 if the server closed fd (end of file or reset), reading and dropping any answer. */
static int closed_by_server(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0)
            return 1;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
    }
}

/* Sends one byte every step_ms until the server closes fd or limit_s passes; returns the
 * seconds it took (or limit_s). */
static double trickle_until_closed(int fd, const char *bytes, long step_ms, double limit_s)
{
    double t0 = now_s();
    size_t i = 0, n = strlen(bytes);
    while (now_s() - t0 < limit_s) {
        if (closed_by_server(fd))
            return now_s() - t0;
        (void)send(fd, bytes + (i++ % n), 1, MSG_NOSIGNAL);
        sleep_ms(step_ms);
    }
    return limit_s;
}

static void tweak_deadlines(mv_http_config *cfg, harness *h)
{
    (void)h;
    cfg->header_timeout_ms = 600;
    cfg->body_min_rate = 1000;
    cfg->max_body = 1 << 20;
}

static void test_deadlines(void **state)
{
    (void)state;
    harness *h = start_with(tweak_deadlines);
    char buf[4096];

    /* A head trickled a byte every 100 ms: closed after the 600 ms head deadline, although it
     * never stops sending. */
    int fd = connect_from(h->port, "127.0.0.1");
    const char line[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(send(fd, line, sizeof line - 1, 0), (ssize_t)(sizeof line - 1));
    double t = trickle_until_closed(fd, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 100, 5);
    close(fd);
    if (t < 0.5 || t > 2.0)
        fail_msg("trickled head closed after %.2f s (deadline 0.6 s)", t);

    /* A body trickled at 10 bytes/s against a minimum of 1000 bytes/s: closed soon after the
     * grace; the handler never runs. */
    int calls = handler_calls(h);
    fd = connect_from(h->port, "127.0.0.1");
    const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n";
    assert_int_equal(send(fd, head, sizeof head - 1, 0), (ssize_t)(sizeof head - 1));
    t = trickle_until_closed(fd, "b", 100, 5);
    close(fd);
    if (t < 0.5 || t > 2.5)
        fail_msg("trickled body closed after %.2f s (grace 0.6 s, then 1000 bytes/s)", t);
    assert_int_equal(handler_calls(h), calls);

    /* A prompt request on the same server is answered; its idle keep-alive connection is then
     * closed after the head deadline. */
    fd = connect_from(h->port, "127.0.0.1");
    const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, get, sizeof get - 1, 0), (ssize_t)(sizeof get - 1));
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(r > 12);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    double t0 = now_s();
    while (!closed_by_server(fd) && now_s() - t0 < 5)
        sleep_ms(20);
    t = now_s() - t0;
    close(fd);
    if (t < 0.4 || t > 2.0)
        fail_msg("idle keep-alive connection closed after %.2f s (deadline 0.6 s)", t);

    long long reaped = -1;
    mv_buf m;
    mv_buf_init(&m, 1 << 20);
    assert_int_equal(mv_metrics_render(h->metrics, &m), MV_OK);
    reaped = metric_value((char *)m.ptr, "mvtest_http_connections_closed_total{reason=\"head_timeout\"}");
    assert_true(reaped >= 2);
    assert_int_equal(metric_value((char *)m.ptr, "mvtest_http_connections_closed_total{reason=\"body_too_slow\"}"),
                     1);
    mv_buf_clear(&m);

    /* Stopping does not wait for a client that never finishes its head. */
    fd = connect_from(h->port, "127.0.0.1");
    assert_int_equal(send(fd, line, sizeof line - 1, 0), (ssize_t)(sizeof line - 1));
    sleep_ms(100);
    t0 = now_s();
    stop(h);
    assert_true(now_s() - t0 < 3);
    close(fd);
}

static void tweak_one_worker(mv_http_config *cfg, harness *h)
{
    (void)h;
    cfg->threads = 1;
    cfg->header_timeout_ms = 600;
}

/* A deadline never counts the server's own slowness against a client: while the only worker
 * runs a 1.5 s handler, another connection's complete request waits unread past the 600 ms
 * head deadline, and is still served. */
static void test_deadline_spares_waiting_bytes(void **state)
{
    (void)state;
    harness *h = start_with(tweak_one_worker);
    char u[128], buf[256];
    int fd = connect_from(h->port, "127.0.0.1");
    sleep_ms(100); /* accepted and registered before the worker blocks */
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/sleep");
    c.url = u;
    c.timeout_ms = 5000;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_call, &c), 0);
    while (handler_calls(h) == 0)
        sleep_ms(10);
    const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, get, sizeof get - 1, 0), (ssize_t)(sizeof get - 1));
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(r >= 12);
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    close(fd);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.status, 200);
    mv_httpc_call_clear(&c);
    stop(h);
}

static void tweak_eviction(mv_http_config *cfg, harness *h)
{
    (void)h;
    cfg->header_timeout_ms = 10000; /* long: what closes connections here is eviction */
    cfg->max_pending_per_addr = 4;
}

static void test_eviction(void **state)
{
    (void)state;
    harness *h = start_with(tweak_eviction);
    int a[6], b[4];
    /* Six silent connections from 127.0.0.1 (cap 4): its two oldest are shut down. */
    for (int i = 0; i < 6; i++) {
        a[i] = connect_from(h->port, "127.0.0.1");
        sleep_ms(30); /* accept order = age */
    }
    sleep_ms(500);
    assert_true(closed_by_server(a[0]));
    assert_true(closed_by_server(a[1]));
    for (int i = 2; i < 6; i++)
        assert_false(closed_by_server(a[i]));
    /* Another address has its own allowance: 127.0.0.1's connections are untouched. */
    for (int i = 0; i < 4; i++)
        b[i] = connect_from(h->port, "127.0.0.2");
    sleep_ms(500);
    for (int i = 2; i < 6; i++)
        assert_false(closed_by_server(a[i]));
    for (int i = 0; i < 4; i++)
        assert_false(closed_by_server(b[i]));
    /* A probe from the flooded address is served (it evicts the oldest silent one). */
    char u[128];
    mv_httpc_call c;
    mv_httpc_call_init(&c);
    url(u, sizeof u, h, "/healthz");
    c.url = u;
    c.timeout_ms = 3000;
    run1(&c);
    assert_int_equal(c.rc, MV_OK);
    assert_int_equal(c.status, 200);
    mv_httpc_call_clear(&c);
    sleep_ms(300);
    assert_true(closed_by_server(a[2]));
    mv_buf m;
    mv_buf_init(&m, 1 << 20);
    assert_int_equal(mv_metrics_render(h->metrics, &m), MV_OK);
    assert_int_equal(
        metric_value((char *)m.ptr, "mvtest_http_connections_closed_total{reason=\"evicted_per_address\"}"), 3);
    mv_buf_clear(&m);
    for (int i = 0; i < 6; i++)
        close(a[i]);
    for (int i = 0; i < 4; i++)
        close(b[i]);
    stop(h);
}

int main(void)
{
    assert_int_equal(mv_httpc_global_init(), MV_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_signed_end_to_end),
        cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_limits_and_wire),
        cmocka_unit_test(test_net_errors),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_listen_and_lifecycle),
        cmocka_unit_test(test_body_gate),
        cmocka_unit_test(test_body_gate_signed),
        cmocka_unit_test(test_strict_framing),
        cmocka_unit_test(test_metrics_token),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_deadline_spares_waiting_bytes),
        cmocka_unit_test(test_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
