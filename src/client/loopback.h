/* loopback.h - what the user's local servers share (`medvault ui` in ui.c, `medvault fhir
 * serve` in fhir_server.c): a server that shows decrypted records must listen on loopback
 * only, answer only requests that name it by its own address (DNS rebinding), hold one
 * long-lived client handle that renews the credential, and stop cleanly on SIGTERM.
 * (internal to the client layer) */
#ifndef MV_CLIENT_LOOPBACK_H
#define MV_CLIENT_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_client.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"

/* A per-session secret in hex: 32 random bytes. */
#define MVC_LOOPBACK_TOKEN_HEX 64
/* Longest caller-chosen token (tests) accepted by mvc_loopback_token. */
#define MVC_LOOPBACK_TOKEN_MAX 256
/* A client handle is re-opened (to renew its credential) at most this often. */
#define MVC_LOOPBACK_REOPEN_SECONDS 60

typedef struct mvc_loopback {
    mv_http_server *srv;
    mv_metrics *metrics;
    unsigned port;
    char ip[16];                      /* the listening address, "127.x.y.z" */
    char host_ip[24], host_local[24]; /* the Host headers accepted: "IP:PORT", "localhost:PORT" */
} mvc_loopback;

/* out = 32 random bytes in lower-case hex. Errors: those of mv_random_bytes. */
mv_err mvc_loopback_random_hex(char out[static MVC_LOOPBACK_TOKEN_HEX + 1]) __attribute__((warn_unused_result));

/* The session token into out[0..cap): fixed (a caller's choice, for tests: 32..256 characters
 * of [A-Za-z0-9._-], else MV_ERR_INVAL) or, when fixed is NULL, mvc_loopback_random_hex.
 * cap must hold MVC_LOOPBACK_TOKEN_MAX + 1. */
mv_err mvc_loopback_token(const char *fixed, char *out, size_t cap) __attribute__((warn_unused_result));

/* Checks that listen is a loopback "127.x.y.z:PORT" (logged under component otherwise:
 * MV_ERR_INVAL), then hardens the process (no core dumps: decrypted records live here) and
 * blocks SIGTERM/SIGINT/SIGPIPE before any thread starts (mv_daemon.h). */
mv_err mvc_loopback_prepare(const char *listen, const char *component) __attribute__((warn_unused_result));

/* Opens *client for the user (or re-opens it once its credential is past half its lifetime,
 * at most every MVC_LOOPBACK_REOPEN_SECONDS, so mv_client_open renews it). *cred receives
 * the credential, *last_open the time of the last attempt. On failure *client is NULL and
 * why[0..cap) says why. The caller serialises calls (the handle is not thread-safe). */
mv_err mvc_loopback_client(const char *deployment_path, const char *user_dir, mv_client **client, mv_credential *cred,
                           uint64_t *last_open, char *why, size_t cap) __attribute__((warn_unused_result));

/* Zeroes *lb, creates the metrics registry (/healthz and /metrics, request counts and
 * latencies only, as every medvault server), starts the HTTP server with *hc (its metrics
 * set to lb's) and records the bound port and the accepted Host values. On failure (logged
 * under log_component) call mvc_loopback_stop. Errors: those of mv_metrics_new and
 * mv_http_server_start. */
mv_err mvc_loopback_start(mvc_loopback *lb, mv_http_config *hc, const char *log_component)
    __attribute__((warn_unused_result));

/* 1 if r's Host header names lb by its address or as localhost (with the port). */
int mvc_loopback_host_ok(const mvc_loopback *lb, const mv_http_request *r);

/* Stops the server (mv_http_server_stop) and frees the registry; accepts a zeroed lb. */
void mvc_loopback_stop(mvc_loopback *lb);

#endif
