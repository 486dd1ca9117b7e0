/* http_server_internal.h - what the HTTP server's files share (http_server.c: the daemon,
 * its callbacks and the request pipeline; http_response.c: building answers; http_request.c:
 * reading a request, verifying its signature, form fields). Not installed. */
#ifndef MV_NET_HTTP_SERVER_INTERNAL_H
#define MV_NET_HTTP_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>

#include "medvault/mv_http.h"
#include "net/http_conns.h"

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
    mv_http_body_done_fn body_done;
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
    int gate_busy;  /* ... and answered MV_HTTP_GATE_BUSY (503, not 413) */
    int answered;  /* a response is queued */
    int builtin;   /* /healthz or /metrics: not audited */
    int has_principal;
    uint8_t principal[32]; /* the subject mv_http_verify(_key) verified on this request */
    const char *method;    /* MHD's, valid for the request */
    char remote[INET_ADDRSTRLEN];
} conn_state;

/* 1 if c may appear in an HTTP token (RFC 9110 section 5.6.2). */
int net_token_char(unsigned char c);
/* 1 if a and b are equal ignoring ASCII case (header names, media types). */
int net_eq_nocase(const char *a, const char *b);
/* Sets r's Content-Type to ct (a static string). */
void net_set_content_type(mv_http_response *r, const char *ct);

#endif
