/* http_server.c - bounded request handling: no request body beyond max_body is buffered, no
 * response is cacheable, and the server binds only the address it is given. */
#include "medvault/mv_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/utf8.h"
#include "medvault/mv_audit.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define DEFAULT_THREADS 4
#define MAX_THREADS 256
#define STOP_GRACE_SECONDS 10
#define CONNECTION_TIMEOUT_SECONDS 60
#define CONNECTION_LIMIT 1024
/* Per-connection memory for the request line and headers (MV-Credential alone may be 4 KiB). */
#define CONNECTION_MEMORY (64 * 1024)
#define MAX_URI 16384
#define PREALLOC_MAX ((uint64_t)1 << 20)

struct mv_http_server {
    struct MHD_Daemon *daemon;
    mv_http_handler_fn handler;
    void *ctx;
    mv_metrics *metrics;
    mv_audit *audit;
    size_t max_body;
    uint16_t port;
    char requests_metric[96];
    char duration_metric[96];
    pthread_mutex_t lock;
    pthread_cond_t idle;
    size_t in_flight; /* requests whose line was received and that are not yet completed */
};

/* One request, created when its request line arrives and freed when MHD completes it. */
typedef struct conn_state {
    mv_http_server *srv;
    struct MHD_Connection *conn;
    struct timespec start;
    char *uri;  /* raw request target, as received */
    char *path; /* uri up to '?' */
    mv_buf body;
    int started;   /* the access handler has seen the headers */
    int too_large; /* body exceeded max_body: discard the rest, answer 413 */
    int answered;  /* a response is queued */
    int builtin;   /* /healthz or /metrics: not audited */
    int has_principal;
    uint8_t principal[32]; /* the subject mv_http_verify(_key) verified on this request */
    const char *method;    /* MHD's, valid for the request */
    char remote[INET_ADDRSTRLEN];
} conn_state;

/* ---- responses ---- */

static int token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

mv_err mv_http_response_header(mv_http_response *r, const char *name, const char *value)
{
    static const char *const reserved[] = {"content-length", "content-type", "cache-control", "connection",
                                           "transfer-encoding"};
    size_t nl, vl;
    if (!r || !name || !value)
        return MV_ERR_INVAL;
    nl = strnlen(name, MV_HTTP_HEADER_NAME_MAX);
    vl = strnlen(value, MV_HTTP_HEADER_VALUE_MAX);
    if (nl == 0 || nl >= MV_HTTP_HEADER_NAME_MAX || vl >= MV_HTTP_HEADER_VALUE_MAX)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < nl; i++)
        if (!token_char((unsigned char)name[i]))
            return MV_ERR_INVAL;
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (eq_nocase(name, reserved[i]))
            return MV_ERR_INVAL;
    if (r->n_headers >= MV_HTTP_MAX_HEADERS)
        return MV_ERR_TOO_LARGE;
    memcpy(r->header_names[r->n_headers], name, nl + 1);
    memcpy(r->header_values[r->n_headers], value, vl + 1);
    r->n_headers++;
    return MV_OK;
}

mv_err mv_http_response_audit_note(mv_http_response *r, const char *note)
{
    size_t n;
    if (!r || !note || (n = strnlen(note, MV_HTTP_AUDIT_NOTE_MAX + 1)) == 0 || n > MV_HTTP_AUDIT_NOTE_MAX ||
        strspn(note, "abcdefghijklmnopqrstuvwxyz0123456789:_.-") != n)
        return MV_ERR_INVAL;
    memcpy(r->audit_note, note, n + 1);
    return MV_OK;
}

static void set_content_type(mv_http_response *r, const char *ct)
{
    size_t n = strlen(ct);
    if (n >= sizeof r->content_type)
        n = sizeof r->content_type - 1;
    memcpy(r->content_type, ct, n);
    r->content_type[n] = 0;
}

void mv_http_respond_json_error(mv_http_response *r, int status, const char *message)
{
    static const char fallback[] = "{\"error\":\"error\"}";
    if (!r)
        return;
    r->status = status;
    set_content_type(r, "application/json");
    mv_buf_reset(&r->body);
    if (!message)
        message = "error";
    if (mv_buf_puts(&r->body, "{\"error\":") != MV_OK ||
        mv_json_write_str(&r->body, message, strlen(message)) != MV_OK || mv_buf_puts(&r->body, "}") != MV_OK) {
        mv_buf_reset(&r->body);
        if (mv_buf_append(&r->body, fallback, sizeof fallback - 1) != MV_OK)
            mv_buf_clear(&r->body); /* cannot even allocate: an empty body still has a status */
    }
}

void mv_http_respond_json(mv_http_response *r, int status, const mv_buf *b)
{
    if (!r)
        return;
    mv_buf_reset(&r->body);
    if (!b || (b->len && mv_buf_append(&r->body, b->ptr, b->len) != MV_OK)) {
        mv_http_respond_json_error(r, 500, "response too large");
        return;
    }
    r->status = status;
    set_content_type(r, "application/json");
}

void mv_http_respond_built(mv_http_response *r, mv_err rc, int status, const mv_buf *b)
{
    if (rc == MV_OK)
        mv_http_respond_json(r, status, b);
    else
        mv_http_respond_json_error(r, 500, "internal error");
}

void mv_http_respond_fmt(mv_http_response *r, int status, const char *fmt, ...)
{
    va_list ap;
    if (!r || !fmt)
        return;
    mv_buf_reset(&r->body);
    va_start(ap, fmt);
    mv_err rc = mv_buf_vprintf(&r->body, fmt, ap);
    va_end(ap);
    if (rc != MV_OK) {
        mv_http_respond_json_error(r, 500, "internal error");
        return;
    }
    r->status = status;
    set_content_type(r, "application/json");
}

void mv_http_respond_bytes(mv_http_response *r, int status, const uint8_t *bytes, size_t n)
{
    if (!r)
        return;
    mv_buf_reset(&r->body);
    if (n && (!bytes || mv_buf_append(&r->body, bytes, n) != MV_OK)) {
        mv_http_respond_json_error(r, 500, "response too large");
        return;
    }
    r->status = status;
    set_content_type(r, "application/octet-stream");
}

void mv_http_respond_auth_failure(mv_http_response *r, mv_err rc)
{
    switch (rc) {
    case MV_ERR_EXPIRED:
        mv_http_respond_json_error(r, 401, "credential expired or request date outside the allowed skew");
        return;
    case MV_ERR_REPLAY:
        mv_http_respond_json_error(r, 401, "replayed request nonce");
        return;
    case MV_ERR_BUSY:
        mv_http_respond_json_error(r, 503, "replay cache full; retry shortly");
        return;
    case MV_ERR_MISDIRECTED:
        mv_http_respond_json_error(r, 421, "request signed for another service (MV-Target is not this service)");
        return;
    case MV_ERR_VERIFY:
        mv_http_respond_json_error(r, 400, "the body does not match its signed MV-Content-SHA256");
        return;
    case MV_OK: case MV_ERR_NOMEM: case MV_ERR_INVAL: case MV_ERR_AUTH: case MV_ERR_TOO_LARGE:
    case MV_ERR_PARSE: case MV_ERR_IO: case MV_ERR_NOT_FOUND: case MV_ERR_CRYPTO: case MV_ERR_BAD_STATE:
    case MV_ERR_RATE_LIMITED: case MV_ERR_NET: case MV_ERR_TIMEOUT: case MV_ERR_IDENTITY:
    case MV_ERR_FORBIDDEN: case MV_ERR_EXISTS: case MV_ERR_PROTOCOL:
    case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP:
        break;
    }
    mv_http_respond_json_error(r, 401, "authentication failed: missing or invalid signature or credential");
}

static void response_init(mv_http_response *r)
{
    memset(r, 0, sizeof *r);
    mv_buf_init(&r->body, MV_HTTP_RESPONSE_MAX);
}

static double elapsed_seconds(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void count_request(mv_http_server *srv, const conn_state *st, unsigned status)
{
    char label[32];
    if (!srv->metrics)
        return;
    /* Metric failures (a cap) must not fail the request. */
    if (snprintf(label, sizeof label, "code=\"%03u\"", status) > 0)
        (void)!mv_metrics_counter_add(srv->metrics, srv->requests_metric, "HTTP requests answered, by status code.",
                                      label, 1);
    (void)!mv_metrics_histogram_observe(srv->metrics, srv->duration_metric,
                                        "Time from request line to response, in seconds.", NULL,
                                        elapsed_seconds(&st->start));
}

/* Appends the answered request to the audit log: "METHOD /path" (never the query or body). A
 * failed append is logged and counted, never fails the request (mv_audit_append keeps the log
 * itself consistent). */
static void audit_request(mv_http_server *srv, const conn_state *st, unsigned status, const char *note)
{
    char action[MV_AUDIT_ACTION_MAX + 1];
    if (!srv->audit || st->builtin)
        return;
    snprintf(action, sizeof action, "%s %s", st->method ? st->method : "?", st->path ? st->path : "?");
    mv_err rc = mv_audit_append(srv->audit, st->has_principal ? st->principal : NULL, st->remote, action, (int)status,
                                note);
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, "http", "audit append failed: %s", mv_strerror(rc));
        if (srv->metrics)
            (void)!mv_metrics_counter_add(srv->metrics, "medvault_audit_append_failures_total",
                                          "Requests that could not be appended to the audit log.", NULL, 1);
    }
}

/* Queues resp (consuming its body) on the connection. */
static enum MHD_Result send_response(conn_state *st, struct MHD_Connection *conn, mv_http_response *resp)
{
    struct MHD_Response *r = NULL;
    enum MHD_Result ret = MHD_NO;
    unsigned status = (resp->status >= 100 && resp->status <= 599) ? (unsigned)resp->status : 500;
    size_t len = 0;
    uint8_t *body = NULL;

    if (resp->status < 100 || resp->status > 599) {
        /* The handler did not produce a valid response: replace it entirely. */
        resp->n_headers = 0;
        mv_http_respond_json_error(resp, 500, "internal error");
    }
    if (resp->body.len) {
        body = mv_buf_steal(&resp->body, &len);
        if (body)
            r = MHD_create_response_from_buffer_with_free_callback(len, body, mv_free);
        if (!r)
            mv_free(body);
    } else {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        goto out;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type[0] ? resp->content_type : "application/octet-stream") != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        goto out;
    for (size_t i = 0; i < resp->n_headers && i < MV_HTTP_MAX_HEADERS; i++)
        if (MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]) != MHD_YES)
            goto out;
    audit_request(st->srv, st, status, resp->audit_note);
    ret = MHD_queue_response(conn, status, r);
    if (ret == MHD_YES) {
        st->answered = 1;
        count_request(st->srv, st, status);
    }
out:
    if (r)
        MHD_destroy_response(r);
    mv_buf_clear(&resp->body);
    return ret;
}

static enum MHD_Result send_error(conn_state *st, struct MHD_Connection *conn, int status, const char *msg)
{
    mv_http_response resp;
    response_init(&resp);
    mv_http_respond_json_error(&resp, status, msg);
    return send_response(st, conn, &resp);
}

/* ---- request handling ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    mv_http_server *srv = cls;
    conn_state *st = mv_calloc(1, sizeof *st);
    if (!st)
        return NULL; /* the access handler answers 503 */
    st->srv = srv;
    st->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &st->start);
    mv_buf_init(&st->body, srv->max_body);
    size_t n = strnlen(uri, MAX_URI + 1);
    if (n <= MAX_URI && (st->uri = mv_malloc(n + 1)) != NULL) {
        memcpy(st->uri, uri, n);
        st->uri[n] = 0;
        size_t pl = strcspn(st->uri, "?");
        if ((st->path = mv_malloc(pl + 1)) != NULL) {
            memcpy(st->path, st->uri, pl);
            st->path[pl] = 0;
        }
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, st->remote,
                  sizeof st->remote);
    pthread_mutex_lock(&srv->lock);
    srv->in_flight++;
    pthread_mutex_unlock(&srv->lock);
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    mv_http_server *srv = cls;
    conn_state *st = *con_cls;
    (void)conn;
    (void)toe;
    if (!st)
        return;
    *con_cls = NULL;
    mv_buf_clear(&st->body);
    mv_free(st->uri);
    mv_free(st->path);
    mv_free(st);
    pthread_mutex_lock(&srv->lock);
    srv->in_flight--;
    if (srv->in_flight == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
}

/* Parses a Content-Length value: digits only, no overflow. */
static int parse_content_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int target_ok(const char *uri)
{
    if (uri[0] != '/')
        return 0; /* absolute-form and '*' are not served */
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}

/* First call for a request: everything that can be decided from the headers alone. */
static enum MHD_Result on_headers(conn_state *st, struct MHD_Connection *conn, const char *method)
{
    mv_http_server *srv = st->srv;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int may_have_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    uint64_t len = 0;

    if (!st->uri || !st->path)
        return send_error(st, conn, st->uri ? 503 : 414, st->uri ? "server busy" : "request target too long");
    if (!target_ok(st->uri))
        return send_error(st, conn, 400, "bad request target");
    if (cl && !parse_content_length(cl, &len))
        return send_error(st, conn, 400, "bad content-length");
    if (!may_have_body && (te || len > 0))
        return send_error(st, conn, 400, "request body not allowed for this method");
    if (len > srv->max_body)
        return send_error(st, conn, 413, "request body too large");
    /* Reserve what was announced, but not more than PREALLOC_MAX: headers alone must not
     * make the server commit max_body bytes per connection. */
    if (len > 0 && mv_buf_reserve(&st->body, (size_t)(len < PREALLOC_MAX ? len : PREALLOC_MAX)) != MV_OK)
        return send_error(st, conn, 503, "server busy");
    return MHD_YES;
}

static void dispatch(conn_state *st, const char *method, mv_http_response *resp)
{
    mv_http_server *srv = st->srv;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    mv_http_request req = {
        .method = method,
        .path = st->path,
        .path_and_query = st->uri,
        .body = st->body.len ? st->body.ptr : (const uint8_t *)"",
        .body_len = st->body.len,
        .remote_addr = st->remote,
        .impl = st,
    };
    if (get && strcmp(st->path, "/healthz") == 0) {
        st->builtin = 1;
        resp->status = 200;
        set_content_type(resp, "text/plain; charset=utf-8");
        if (mv_buf_puts(&resp->body, "ok\n") != MV_OK)
            mv_http_respond_json_error(resp, 503, "server busy");
        return;
    }
    if (get && srv->metrics && strcmp(st->path, "/metrics") == 0) {
        st->builtin = 1;
        resp->status = 200;
        set_content_type(resp, "text/plain; version=0.0.4; charset=utf-8");
        if (mv_metrics_render(srv->metrics, &resp->body) != MV_OK)
            mv_http_respond_json_error(resp, 500, "metrics unavailable");
        return;
    }
    srv->handler(srv->ctx, &req, resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    conn_state *st = *con_cls;
    (void)cls;
    (void)url;
    (void)version;
    if (!st) {
        /* The request state could not be allocated: refuse without state. */
        static const char busy[] = "{\"error\":\"server busy\"}";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof busy - 1, (void *)(uintptr_t)busy, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_NO;
        if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_YES)
            ret = MHD_queue_response(conn, 503, r);
        if (r)
            MHD_destroy_response(r);
        return ret;
    }
    st->method = method;
    if (st->answered) {
        /* An early response is queued; MHD may still hand us body data: drop it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!st->started) {
        st->started = 1;
        return on_headers(st, conn, method);
    }
    if (*upload_data_size) {
        if (!st->too_large) {
            /* Counted while receiving: chunked bodies announce no length. */
            if (*upload_data_size > st->srv->max_body - st->body.len) {
                st->too_large = 1;
                mv_buf_clear(&st->body);
            } else if (mv_buf_append(&st->body, upload_data, *upload_data_size) != MV_OK) {
                *upload_data_size = 0;
                return send_error(st, conn, 503, "server busy");
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return send_error(st, conn, 413, "request body too large");
    mv_http_response resp;
    response_init(&resp);
    dispatch(st, method, &resp);
    return send_response(st, conn, &resp);
}

/* ---- lifecycle ---- */

const char *mv_http_header(const mv_http_request *r, const char *name)
{
    const conn_state *st;
    if (!r || !name || !r->impl)
        return NULL;
    st = r->impl;
    return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

/* "a.b.c.d:port" -> sockaddr_in. */
static mv_err parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[16];
    const char *colon = strrchr(s, ':');
    size_t hl;
    unsigned long port = 0;
    if (!colon || (hl = (size_t)(colon - s)) == 0 || hl >= sizeof host)
        return MV_ERR_INVAL;
    memcpy(host, s, hl);
    host[hl] = 0;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return MV_ERR_INVAL;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return MV_ERR_INVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return MV_ERR_INVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535)
        return MV_ERR_INVAL;
    sa->sin_port = htons((uint16_t)port);
    return MV_OK;
}

static int component_ok(const char *c)
{
    size_t n = 0;
    if (!((c[0] >= 'a' && c[0] <= 'z') || (c[0] >= 'A' && c[0] <= 'Z') || c[0] == '_'))
        return 0;
    for (; c[n]; n++)
        if (n >= 63 || !((c[n] >= 'a' && c[n] <= 'z') || (c[n] >= 'A' && c[n] <= 'Z') || c[n] == '_' ||
                         (c[n] >= '0' && c[n] <= '9')))
            return 0;
    return 1;
}

mv_err mv_http_server_start(const mv_http_config *cfg, mv_http_server **out)
{
    mv_http_server *srv = NULL;
    struct sockaddr_in sa;
    mv_err rc = MV_ERR_INVAL;
    int sync_ok = 0;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!cfg || !cfg->handler || !cfg->listen || parse_listen(cfg->listen, &sa) != MV_OK)
        goto out;
    const char *component = cfg->component ? cfg->component : "medvault";
    if (!component_ok(component) || cfg->threads > MAX_THREADS)
        goto out;
    rc = MV_ERR_NOMEM;
    if (!(srv = mv_calloc(1, sizeof *srv)))
        goto out;
    srv->handler = cfg->handler;
    srv->ctx = cfg->ctx;
    srv->metrics = cfg->metrics;
    srv->audit = cfg->audit;
    srv->max_body = cfg->max_body;
    snprintf(srv->requests_metric, sizeof srv->requests_metric, "%s_http_requests_total", component);
    snprintf(srv->duration_metric, sizeof srv->duration_metric, "%s_http_request_duration_seconds", component);
    if (pthread_mutex_init(&srv->lock, NULL) != 0)
        goto out;
    if (pthread_cond_init(&srv->idle, NULL) != 0) {
        pthread_mutex_destroy(&srv->lock);
        goto out;
    }
    sync_ok = 1;
    unsigned threads = cfg->threads ? cfg->threads : DEFAULT_THREADS;
    /* A pool of poll() workers sharing the listen socket: keep-alive connections cost no
     * thread each, and many small requests spread over the pool. ITC makes quiesce possible.
     * Not epoll: with a thread pool and epoll, stopping (MHD_quiesce_daemon) was seen to abort
     * inside libmicrohttpd about once in seven test runs ("Failed to remove listen FD from
     * epoll set": quiesce edits each worker's epoll set while that worker runs). poll() sets
     * are rebuilt every round, so quiesce has no kernel state to edit. */
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)(threads > 1 ? threads : 0), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)CONNECTION_TIMEOUT_SECONDS, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
    rc = MV_ERR_NET;
    if (!srv->daemon)
        goto out;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!di || di->port == 0)
        goto out;
    srv->port = di->port;
    *out = srv;
    srv = NULL;
    rc = MV_OK;
out:
    if (srv) {
        if (srv->daemon)
            MHD_stop_daemon(srv->daemon);
        if (sync_ok) {
            pthread_cond_destroy(&srv->idle);
            pthread_mutex_destroy(&srv->lock);
        }
        mv_free(srv);
    }
    return rc;
}

uint16_t mv_http_server_port(const mv_http_server *s) { return s ? s->port : 0; }

void mv_http_server_stop(mv_http_server *s)
{
    struct timespec deadline;
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_GRACE_SECONDS;
    pthread_mutex_lock(&s->lock);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->daemon);
    /* MHD hands the quiesced listen socket to us; close it only after the workers stopped. */
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    mv_free(s);
}

/* Remembers the verified subject on the server's request state (r->impl is NULL for requests
 * a test builds by hand). */
static void note_principal(const mv_http_request *r, const uint8_t subject[32])
{
    conn_state *st = r->impl;
    if (!st)
        return;
    memcpy(st->principal, subject, 32);
    st->has_principal = 1;
}

static void auth_request_of(const mv_http_request *r, mv_auth_request *ar)
{
    *ar = (mv_auth_request){
        .method = r->method,
        .path_and_query = r->path_and_query,
        .body = r->body,
        .body_len = r->body_len,
        .key = mv_http_header(r, "MV-Key"),
        .date = mv_http_header(r, "MV-Date"),
        .nonce = mv_http_header(r, "MV-Nonce"),
        .target = mv_http_header(r, "MV-Target"),
        .body_sha256 = mv_http_header(r, "MV-Content-SHA256"),
        .credential = mv_http_header(r, "MV-Credential"),
        .signature = mv_http_header(r, "MV-Signature"),
    };
}

mv_err mv_http_verify(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred)
{
    mv_auth_failure why;
    return mv_http_verify_ex(v, r, now, out_cred, &why);
}

mv_err mv_http_verify_key(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, uint8_t key_out[static 32])
{
    mv_auth_request ar;
    if (!v || !r)
        return MV_ERR_INVAL;
    auth_request_of(r, &ar);
    mv_err rc = mv_auth_verify_key(v, &ar, now, key_out);
    if (rc == MV_OK)
        note_principal(r, key_out);
    return rc;
}

mv_err mv_http_verify_ex(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why)
{
    mv_auth_request ar;
    if (!v || !r || !why)
        return MV_ERR_INVAL;
    auth_request_of(r, &ar);
    mv_credential local;
    mv_credential *c = out_cred ? out_cred : &local;
    mv_err rc = mv_auth_verify_ex(v, &ar, now, c, why);
    if (rc == MV_OK)
        note_principal(r, c->subject);
    if (c == &local)
        mv_wipe(&local, sizeof local);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one form value text[0..len) into out[0..cap) (see mv_http_form_get). */
static mv_err form_decode(const char *text, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t j = 0; j < len; j++) {
        int c = (unsigned char)text[j];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - j < 3 || (hi = hexval(text[j + 1])) < 0 || (lo = hexval(text[j + 2])) < 0)
                return MV_ERR_PARSE;
            c = hi * 16 + lo;
            j += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return MV_ERR_PARSE;
        if (o + 1 >= cap)
            return MV_ERR_TOO_LARGE;
        out[o++] = (char)c;
    }
    out[o] = 0;
    for (size_t k = 0; k < o;) {
        size_t l = mv_utf8_seq((const unsigned char *)out + k, o - k);
        if (!l)
            return MV_ERR_PARSE;
        k += l;
    }
    return MV_OK;
}

mv_err mv_http_form_get(const char *text, size_t len, const char *name, char *out, size_t cap)
{
    if (!text || !name || !out || cap == 0)
        return MV_ERR_INVAL;
    out[0] = 0;
    size_t nl = strlen(name), i = 0;
    if (nl == 0)
        return MV_ERR_INVAL;
    while (i <= len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        if (end - i > nl && !memcmp(text + i, name, nl) && text[i + nl] == '=') {
            mv_err rc = form_decode(text + i + nl + 1, end - i - nl - 1, out, cap);
            if (rc != MV_OK)
                mv_wipe(out, cap); /* no half-decoded value is left behind */
            return rc;
        }
        i = end + 1;
    }
    return MV_ERR_NOT_FOUND;
}

const char *mv_http_query(const mv_http_request *r)
{
    const char *q = r && r->path_and_query ? strchr(r->path_and_query, '?') : NULL;
    return q ? q + 1 : "";
}
