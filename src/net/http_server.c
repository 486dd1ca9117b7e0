/* http_server.c - bounded request handling: no request body beyond max_body is buffered, an
 * unverified one not beyond MV_HTTP_UNVERIFIED_BODY_MAX, every request is framed one way only,
 * no connection holds a slot past its deadline, no response is cacheable, private metrics need
 * a token, and the server binds only the address it is given. */
#include "medvault/mv_clock.h"
#include "medvault/mv_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/utf8.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "net/http_conns.h"

#define DEFAULT_THREADS 4
#define MAX_THREADS 256
#define STOP_GRACE_SECONDS 10
/* libmicrohttpd's own idle timeout: a backstop behind the deadlines of http_conns.c. */
#define CONNECTION_TIMEOUT_SECONDS 60
/* Descriptors kept free for everything else a daemon opens (store, logs, outgoing calls). */
#define FD_RESERVE 64
#define MIN_CONNECTIONS 16
/* Per-connection memory for the request line and headers (MV-Credential alone may be 4 KiB).
 * libmicrohttpd maps it lazily: an idle connection touches a page or two of it. */
#define CONNECTION_MEMORY (64 * 1024)
#define MAX_URI 16384
#define METRICS_TOKEN_MIN 16

struct mv_http_server {
    struct MHD_Daemon *daemon;
    mv_http_handler_fn handler;
    void *ctx;
    mv_metrics *metrics;        /* the daemon's: shown only with the token */
    mv_metrics *public_metrics; /* ours: request counts and durations, shown to anyone */
    mv_http_answer_fn on_answer;
    void *on_answer_ctx;
    mv_httpconns *conns;
    size_t max_body;
    uint16_t port;
    mv_http_body_gate_fn body_gate;
    void *body_gate_ctx;
    size_t n_content_types;
    char content_types[MV_HTTP_MAX_CONTENT_TYPES][MV_HTTP_CONTENT_TYPE_MAX + 1];
    char metrics_token[MV_HTTP_METRICS_TOKEN_MAX + 1]; /* "" = none; wiped on stop */
    size_t metrics_token_len;
    int metrics_private_only;
    char requests_metric[96];
    char duration_metric[96];
    char refused_metric[96];
    pthread_mutex_t lock;
    pthread_cond_t idle;
    size_t in_flight; /* requests whose line was received and that are not yet completed */
};

/* One request, created when its request line arrives and freed when MHD completes it. */
typedef struct conn_state {
    mv_http_server *srv;
    struct MHD_Connection *conn;
    mv_httpconn *tc; /* the connection's deadlines (http_conns.c); NULL if it has none */
    double start;
    char *uri;  /* raw request target, as received */
    char *path; /* uri up to '?' */
    mv_buf body;
    uint64_t seen;  /* body bytes received (kept or not) */
    int started;    /* the access handler has seen the headers */
    int too_large;  /* body exceeded max_body: discard the rest, answer 413 */
    int gate_asked; /* the body gate was consulted (at most once) */
    int gate_ok;    /* ... and allowed the whole body */
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
    mv_jw w;
    mv_jw_init(&w, &r->body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "error", message);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) != MV_OK) {
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
    case MV_ERR_PROTOCOL:
        mv_http_respond_json_error(r, 401, "signed requests v2 are required (MV-Target missing; docs/api.md)");
        return;
    case MV_OK: case MV_ERR_NOMEM: case MV_ERR_INVAL: case MV_ERR_AUTH: case MV_ERR_TOO_LARGE:
    case MV_ERR_PARSE: case MV_ERR_IO: case MV_ERR_NOT_FOUND: case MV_ERR_CRYPTO: case MV_ERR_BAD_STATE:
    case MV_ERR_RATE_LIMITED: case MV_ERR_NET: case MV_ERR_TIMEOUT: case MV_ERR_IDENTITY:
    case MV_ERR_FORBIDDEN: case MV_ERR_EXISTS:
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

/* Counts an answer in the public registry; seconds < 0 = no duration (the request was refused
 * before it had a start time of ours). */
static void count_status(mv_http_server *srv, unsigned status, double seconds)
{
    char label[32];
    if (!srv->public_metrics)
        return;
    /* Metric failures (a cap) must not fail the request. */
    if (snprintf(label, sizeof label, "code=\"%03u\"", status) > 0)
        (void)!mv_metrics_counter_add(srv->public_metrics, srv->requests_metric,
                                      "HTTP requests answered, by status code.", label, 1);
    if (seconds >= 0)
        (void)!mv_metrics_histogram_observe(srv->public_metrics, srv->duration_metric,
                                            "Time from request line to response, in seconds.", NULL, seconds);
}

static void count_request(mv_http_server *srv, const conn_state *st, unsigned status)
{
    count_status(srv, status, mv_mono_seconds() - st->start);
}

/* Tells the daemon's answer hook (the audit log, for the services) about an answered request. */
static void report_answer(mv_http_server *srv, const conn_state *st, unsigned status, const char *note)
{
    if (!srv->on_answer || st->builtin)
        return;
    mv_http_answer a = {
        .method = st->method ? st->method : "?",
        .path = st->path ? st->path : "?",
        .principal = st->has_principal ? st->principal : NULL,
        .remote = st->remote,
        .status = status,
        .note = note,
        .metrics = srv->metrics,
    };
    srv->on_answer(srv->on_answer_ctx, &a);
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
    report_answer(st->srv, st, status, resp->audit_note);
    ret = MHD_queue_response(conn, status, r);
    if (ret == MHD_YES) {
        st->answered = 1;
        count_request(st->srv, st, status);
        mv_httpconn_sending(st->srv->conns, st->tc, len);
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

/* ---- connections ---- */

/* Registers each accepted connection with its deadlines and unregisters it before
 * libmicrohttpd closes its socket (see http_conns.h for why that order matters). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    mv_http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        uint32_t addr = 0;
        if (ad && ad->client_addr && ad->client_addr->sa_family == AF_INET)
            addr = ((const struct sockaddr_in *)(const void *)ad->client_addr)->sin_addr.s_addr;
        *socket_context = fd ? mv_httpconn_open(srv->conns, fd->connect_fd, addr, conn) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        mv_httpconn_close(srv->conns, *socket_context);
        *socket_context = NULL;
    }
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
    const union MHD_ConnectionInfo *sc = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    st->tc = sc ? sc->socket_context : NULL;
    st->start = mv_mono_seconds();
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
    /* Keep-alive: the next request head has header_timeout_ms from now (MHD notifies the
     * connection's closing after this, if it closes). */
    mv_httpconn_waiting(srv->conns, st->tc);
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

/* 1 if s is non-empty and all digits (a Content-Length too large to represent, not a malformed one). */
static int all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
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

/* How a request frames its body: the number of Content-Length and Transfer-Encoding fields. */
typedef struct framing {
    unsigned n_cl, n_te;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    framing *f = cls;
    (void)kind;
    (void)value;
    if (key && eq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        f->n_cl++;
    else if (key && eq_nocase(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        f->n_te++;
    return MHD_YES;
}

/* 1 if the media type of a Content-Type value (before any ';', without surrounding spaces)
 * is one the server accepts. */
static int content_type_ok(const mv_http_server *srv, const char *ct)
{
    char media[MV_HTTP_CONTENT_TYPE_MAX + 1];
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0 || n > MV_HTTP_CONTENT_TYPE_MAX)
        return 0;
    memcpy(media, ct, n);
    media[n] = 0;
    for (size_t i = 0; i < srv->n_content_types; i++)
        if (eq_nocase(media, srv->content_types[i]))
            return 1;
    return 0;
}

/* The request as the handler (or the body gate) sees it. */
static mv_http_request request_of(conn_state *st, const char *method)
{
    return (mv_http_request){
        .method = method,
        .path = st->path,
        .path_and_query = st->uri,
        .body = st->body.len ? st->body.ptr : (const uint8_t *)"",
        .body_len = st->body.len,
        .remote_addr = st->remote,
        .impl = st,
    };
}

/* Asks the body gate (once per request) whether a body over MV_HTTP_UNVERIFIED_BODY_MAX may be
 * buffered; without a gate it may. 1: go on; 0: refused (counted; the caller answers 413). */
static int consult_gate(conn_state *st, const char *method)
{
    mv_http_server *srv = st->srv;
    if (st->gate_asked)
        return st->gate_ok;
    st->gate_asked = 1;
    st->gate_ok = 1;
    if (srv->body_gate) {
        mv_http_request req = request_of(st, method);
        req.body_len = 0;
        st->gate_ok = srv->body_gate(srv->body_gate_ctx, &req) == 1;
    }
    if (!st->gate_ok && srv->metrics)
        (void)!mv_metrics_counter_add(srv->metrics, srv->refused_metric,
                                      "Request bodies over 64 KiB the body gate refused (413).", NULL, 1);
    return st->gate_ok;
}

static const char gate_refusal[] =
    "a request body over 64 KiB is accepted only with a signature that verifies from its headers "
    "(MV-Content-SHA256; docs/api.md)";

/* First call for a request: everything that can be decided from the headers alone. */
static enum MHD_Result on_headers(conn_state *st, struct MHD_Connection *conn, const char *method)
{
    mv_http_server *srv = st->srv;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int may_have_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    framing f = {0, 0};
    uint64_t len = 0;

    if (!st->uri || !st->path)
        return send_error(st, conn, st->uri ? 503 : 414, st->uri ? "server busy" : "request target too long");
    if (!target_ok(st->uri))
        return send_error(st, conn, 400, "bad request target");
    /* One framing only (RFC 9112 section 6.3): a request that two parsers could read two ways
     * is refused, not guessed at. Identical repeated Content-Length fields are refused too:
     * no client of ours sends them. */
    (void)MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.n_cl > 1)
        return send_error(st, conn, 400, "more than one content-length");
    if (f.n_te > 1 || (f.n_te && f.n_cl))
        return send_error(st, conn, 400, "content-length and transfer-encoding together, or transfer-encoding twice");
    if (te && !eq_nocase(te, "chunked"))
        return send_error(st, conn, 501, "transfer-encoding other than chunked");
    if (cl && !parse_content_length(cl, &len))
        return all_digits(cl) ? send_error(st, conn, 413, "request body too large")
                              : send_error(st, conn, 400, "bad content-length");
    if (!may_have_body && (te || len > 0))
        return send_error(st, conn, 400, "request body not allowed for this method");
    if (len > srv->max_body)
        return send_error(st, conn, 413, "request body too large");
    if ((te || len > 0) && !content_type_ok(srv, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                            MHD_HTTP_HEADER_CONTENT_TYPE)))
        return send_error(st, conn, 415, "unsupported or missing content-type for a request body");
    /* Nothing is reserved from the announced length: memory grows only as bytes arrive. A
     * large body the gate refuses is answered now, before a byte of it is read: the request
     * holds neither memory nor its slot while it uploads. */
    if (len > MV_HTTP_UNVERIFIED_BODY_MAX && !consult_gate(st, method))
        return send_error(st, conn, 413, gate_refusal);
    mv_httpconn_head_done(srv->conns, st->tc);
    return MHD_YES;
}

/* Takes n more body bytes: keeps them, or (over max_body) none. A chunked body growing past
 * MV_HTTP_UNVERIFIED_BODY_MAX that the gate refuses closes the connection there (MHD_NO):
 * libmicrohttpd takes no response in the middle of an upload, and reading on would let an
 * unverified peer hold the connection for as long as it trickles. MHD_NO also if memory runs
 * out. */
static enum MHD_Result take_body(conn_state *st, struct MHD_Connection *conn, const char *method, const char *data,
                                 size_t n)
{
    mv_http_server *srv = st->srv;
    mv_httpconn_body(srv->conns, st->tc, n);
    if (st->too_large)
        return MHD_YES;
    /* Counted while receiving: chunked bodies announce no length. (seen <= max_body here.) */
    if (n > srv->max_body || st->seen > srv->max_body - n) {
        st->too_large = 1;
        mv_buf_clear(&st->body);
        return MHD_YES;
    }
    st->seen += n;
    if (st->body.len + n > MV_HTTP_UNVERIFIED_BODY_MAX && !consult_gate(st, method)) {
        mv_buf_clear(&st->body);
        return MHD_NO;
    }
    if (n && mv_buf_append(&st->body, data, n) != MV_OK)
        return send_error(st, conn, 503, "server busy");
    return MHD_YES;
}

/* 0: no Authorization header (the public view), 1: the right bearer token, -1: anything else. */
static int metrics_auth(const mv_http_server *srv, const char *authz)
{
    static const char scheme[] = "bearer ";
    if (!authz || !srv->metrics_token_len)
        return 0; /* without a configured token there is nothing to unlock */
    size_t n = strlen(authz);
    if (n <= sizeof scheme - 1)
        return -1;
    char head[sizeof scheme];
    memcpy(head, authz, sizeof scheme - 1);
    head[sizeof scheme - 1] = 0;
    if (!eq_nocase(head, scheme))
        return -1;
    const char *tok = authz + sizeof scheme - 1;
    while (*tok == ' ')
        tok++;
    /* The length is public (fixed by the operator's file); the bytes are compared in
     * constant time. */
    if (strlen(tok) != srv->metrics_token_len)
        return -1;
    return mv_ct_eq(tok, srv->metrics_token, srv->metrics_token_len) ? 1 : -1;
}

static void serve_metrics(mv_http_server *srv, const mv_http_request *req, mv_http_response *resp)
{
    int auth = metrics_auth(srv, mv_http_header(req, "Authorization"));
    if (auth < 0 || (auth == 0 && srv->metrics_private_only)) {
        mv_http_respond_json_error(resp, 401, "metrics need the bearer token of this server's metrics.token file");
        if (mv_http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"metrics\"") != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    resp->status = 200;
    set_content_type(resp, "text/plain; version=0.0.4; charset=utf-8");
    if (mv_metrics_render(srv->public_metrics, &resp->body) != MV_OK ||
        (auth == 1 && mv_metrics_render(srv->metrics, &resp->body) != MV_OK))
        mv_http_respond_json_error(resp, 500, "metrics unavailable");
}

static void dispatch(conn_state *st, const char *method, mv_http_response *resp)
{
    mv_http_server *srv = st->srv;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    mv_http_request req = request_of(st, method);
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
        serve_metrics(srv, &req, resp);
        return;
    }
    mv_httpconn_handling(srv->conns, st->tc);
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
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return take_body(st, conn, method, upload_data, n);
    }
    if (st->too_large)
        return send_error(st, conn, 413, "request body too large");
    mv_http_response resp;
    response_init(&resp);
    dispatch(st, method, &resp);
    return send_response(st, conn, &resp);
}

/* ---- libmicrohttpd's own refusals ----
 *
 * libmicrohttpd 0.9.75 parses Content-Length itself before the access handler runs. On a
 * malformed value ("-5", "5, 5", "5x") or one that overflows 64 bits it queues its own
 * 400/413 (connection.c, parse_connection_headers -> transmit_error_response_len, which
 * already builds the response head), then its state machine overwrites the state with
 * HEADERS_PROCESSED and builds the head a second time: two status lines on the wire and a
 * body that no longer matches Content-Length. The access handler is never called for such a
 * request, so the only hook is libmicrohttpd's log callback, called (on the connection's
 * thread) just before it answers. There we find the connection (http_conns.c: the one of
 * this thread whose complete head carries a Content-Length our own parser refuses), write
 * one well-formed answer of ours to its socket and shut the socket down, so that
 * libmicrohttpd's answer fails to send and the connection closes. */

static int bad_content_length(void *owner, void *arg)
{
    struct MHD_Connection *conn = owner;
    uint64_t len;
    (void)arg;
    /* Only a connection whose whole head was received (HEADERS_RECEIVED or later). */
    const union MHD_ConnectionInfo *hs = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!hs || hs->header_size == 0)
        return 0;
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return 0; /* libmicrohttpd ignores Content-Length then */
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && !parse_content_length(cl, &len);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    mv_http_server *srv = cls;
    (void)ap;
    /* libmicrohttpd's other messages are not logged: they describe client misbehaviour the
     * answers already show, and would let any client fill the log. */
    if (!srv || !fmt)
        return;
    int malformed = strncmp(fmt, "Failed to parse `Content-Length'", 32) == 0;
    int too_large = strncmp(fmt, "Too large value of 'Content-Length'", 35) == 0;
    if (!malformed && !too_large)
        return;
    /* The answer send_error would give, as one buffer written at once. */
    const char *body = too_large ? "{\"error\":\"request body too large\"}" : "{\"error\":\"bad content-length\"}";
    char resp[320];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                       "Cache-Control: no-store\r\nContent-Length: %zu\r\n\r\n%s",
                       too_large ? "413 Content Too Large" : "400 Bad Request", strlen(body), body);
    if (len > 0 && (size_t)len < sizeof resp &&
        mv_httpconns_rescue(srv->conns, bad_content_length, NULL, resp, (size_t)len))
        count_status(srv, too_large ? 413 : 400, -1);
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

/* Copies the content-type allowlist (NULL = the default): lower-case "type/subtype" tokens. */
static mv_err copy_content_types(mv_http_server *srv, const char *const *types)
{
    static const char *const defaults[] = {MV_HTTP_CONTENT_TYPES_DEFAULT, NULL};
    if (!types)
        types = defaults;
    for (size_t i = 0; types[i]; i++) {
        const char *t = types[i];
        size_t n = strnlen(t, MV_HTTP_CONTENT_TYPE_MAX + 1), slash = strcspn(t, "/");
        if (i >= MV_HTTP_MAX_CONTENT_TYPES || n == 0 || n > MV_HTTP_CONTENT_TYPE_MAX || slash == 0 ||
            slash >= n - 1 || strchr(t + slash + 1, '/'))
            return MV_ERR_INVAL;
        for (size_t k = 0; k < n; k++)
            if (t[k] != '/' && (!token_char((unsigned char)t[k]) || (t[k] >= 'A' && t[k] <= 'Z')))
                return MV_ERR_INVAL;
        memcpy(srv->content_types[i], t, n + 1);
        srv->n_content_types = i + 1;
    }
    return MV_OK;
}

/* A token68 (RFC 9110 section 11.2) of METRICS_TOKEN_MIN..MV_HTTP_METRICS_TOKEN_MAX characters. */
static mv_err copy_metrics_token(mv_http_server *srv, const char *tok)
{
    if (!tok)
        return MV_OK;
    size_t n = strnlen(tok, MV_HTTP_METRICS_TOKEN_MAX + 1);
    if (n < METRICS_TOKEN_MIN || n > MV_HTTP_METRICS_TOKEN_MAX ||
        strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != n)
        return MV_ERR_INVAL;
    memcpy(srv->metrics_token, tok, n + 1);
    srv->metrics_token_len = n;
    return MV_OK;
}

/* The connection limit: as configured (or the default), but never so close to the process's
 * descriptor limit that accepting would fail for everything else the daemon opens. */
static size_t connection_limit(unsigned configured)
{
    size_t limit = configured ? configured : MV_HTTP_MAX_CONNECTIONS_DEFAULT;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t fds = rl.rlim_cur > FD_RESERVE + MIN_CONNECTIONS ? (size_t)rl.rlim_cur - FD_RESERVE : MIN_CONNECTIONS;
        if (limit > fds)
            limit = fds;
    }
    return limit;
}

/* Frees what mv_http_server_start built (the daemon already stopped or never started). */
static void server_free(mv_http_server *srv, int sync_ok)
{
    mv_httpconns_free(srv->conns);
    mv_metrics_free(srv->public_metrics);
    mv_wipe(srv->metrics_token, sizeof srv->metrics_token);
    if (sync_ok) {
        pthread_cond_destroy(&srv->idle);
        pthread_mutex_destroy(&srv->lock);
    }
    mv_free(srv);
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
    if ((rc = copy_content_types(srv, cfg->content_types)) != MV_OK ||
        (rc = copy_metrics_token(srv, cfg->metrics_token)) != MV_OK)
        goto out;
    rc = MV_ERR_NOMEM;
    srv->handler = cfg->handler;
    srv->ctx = cfg->ctx;
    srv->metrics = cfg->metrics;
    srv->on_answer = cfg->on_answer;
    srv->on_answer_ctx = cfg->on_answer_ctx;
    srv->max_body = cfg->max_body;
    srv->body_gate = cfg->body_gate;
    srv->body_gate_ctx = cfg->body_gate_ctx;
    srv->metrics_private_only = cfg->metrics_private_only;
    snprintf(srv->requests_metric, sizeof srv->requests_metric, "%s_http_requests_total", component);
    snprintf(srv->duration_metric, sizeof srv->duration_metric, "%s_http_request_duration_seconds", component);
    snprintf(srv->refused_metric, sizeof srv->refused_metric, "%s_http_bodies_refused_total", component);
    if (cfg->metrics && mv_metrics_new(&srv->public_metrics) != MV_OK)
        goto out;
    size_t max_conns = connection_limit(cfg->max_connections);
    mv_httpconns_config cc = {
        .header_timeout_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : MV_HTTP_HEADER_TIMEOUT_MS_DEFAULT,
        .min_rate = cfg->body_min_rate ? cfg->body_min_rate : MV_HTTP_BODY_MIN_RATE_DEFAULT,
        .max_connections = max_conns,
        .max_pending_per_addr =
            cfg->max_pending_per_addr ? cfg->max_pending_per_addr : MV_HTTP_MAX_PENDING_PER_ADDR_DEFAULT,
        .metrics = cfg->metrics,
        .component = component,
    };
    if ((rc = mv_httpconns_new(&cc, &srv->conns)) != MV_OK)
        goto out;
    rc = MV_ERR_NOMEM;
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
     * are rebuilt every round, so quiesce has no kernel state to edit. poll() has no
     * FD_SETSIZE limit, so thousands of connections are fine.
     * MHD_USE_ERROR_LOG only routes libmicrohttpd's messages to on_mhd_log (see there). */
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
        srv, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)(threads > 1 ? threads : 0), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)CONNECTION_TIMEOUT_SECONDS, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_conns,
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
        server_free(srv, sync_ok);
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
    /* Connections that have not sent a complete request have nothing to finish: close them
     * now rather than wait out the grace for a client that may never send one. */
    mv_httpconns_drain(s->conns);
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
    server_free(s, 1);
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

int mv_http_gate_signed(void *verifier, const mv_http_request *req)
{
    mv_auth_request ar;
    if (!verifier || !req)
        return 0;
    auth_request_of(req, &ar);
    /* Everything but the nonce and the body itself: the signature over the digest the client
     * announced in MV-Content-SHA256, the credential, the target, the window, revocation. */
    return mv_auth_preverify(verifier, &ar, (uint64_t)time(NULL), 1) == MV_OK;
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
