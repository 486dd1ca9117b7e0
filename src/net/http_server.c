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

#include "medvault/mv_codec.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "net/http_conns.h"
#include "net/http_server_internal.h"

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

static mv_http_request request_of(conn_state *st, const char *method);

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
    if (st->gate_asked && st->gate_ok && srv->body_gate && srv->body_done) {
        mv_http_request req = request_of(st, "?");
        req.body_len = 0;
        srv->body_done(srv->body_gate_ctx, &req);
    }
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
    if (key && net_eq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        f->n_cl++;
    else if (key && net_eq_nocase(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
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
        if (net_eq_nocase(media, srv->content_types[i]))
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
        int g = srv->body_gate(srv->body_gate_ctx, &req);
        st->gate_ok = g == 1;
        st->gate_busy = g == MV_HTTP_GATE_BUSY;
    }
    if (!st->gate_ok && srv->metrics)
        (void)!mv_metrics_counter_add(srv->metrics, srv->refused_metric,
                                      "Request bodies over 64 KiB the body gate refused (413).", NULL, 1);
    return st->gate_ok;
}

static const char gate_refusal[] =
    "a request body over 64 KiB is accepted only with a signature that verifies from its headers "
    "(MV-Content-SHA256), or where the endpoint takes anonymous bodies, within its cap and its "
    "per-address rate (docs/api.md)";

static const char gate_busy_refusal[] = "too many large request bodies in flight; retry";

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
    if (te && !net_eq_nocase(te, "chunked"))
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
        return st->gate_busy ? send_error(st, conn, 503, gate_busy_refusal) : send_error(st, conn, 413, gate_refusal);
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
    if (!net_eq_nocase(head, scheme))
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
    net_set_content_type(resp, "text/plain; version=0.0.4; charset=utf-8");
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
        net_set_content_type(resp, "text/plain; charset=utf-8");
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
            if (t[k] != '/' && (!net_token_char((unsigned char)t[k]) || (t[k] >= 'A' && t[k] <= 'Z')))
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
    srv->body_done = cfg->body_done;
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
