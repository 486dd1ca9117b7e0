/* mv_ui.h - each user's local web UI (`medvault ui`): server-rendered pages over the client
 * library, served on loopback to the user's own browser.
 *
 * Records are decrypted only in this process (mv_client_get); the pages show them to the one
 * browser that presented the login token. Access control of the UI itself:
 *   - it listens on a 127.x.y.z address only;
 *   - GET /login?token=T (T printed at start, compared in constant time, usable repeatedly
 *     while the process runs) sets a random session cookie (HttpOnly, SameSite=Strict,
 *     named after the port so two UIs on one host do not overwrite each other's cookie);
 *     every other page without that cookie is sent to /login;
 *   - every POST form carries a per-process CSRF token, compared in constant time;
 *   - a Host header other than the listening address or localhost is refused (DNS rebinding);
 *   - every answer carries a strict Content-Security-Policy (no scripts at all), nosniff,
 *     no-referrer and frame-ancestors 'none'; every value placed in a page is HTML-escaped.
 *
 * Pages: / (profile), /appointments, /records, /records/{id}, /prescribe and /orders
 * (doctors). Requests are served one at a time (one client handle behind a mutex). */
#ifndef MV_UI_H
#define MV_UI_H

#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of the login token in hex digits (32 random bytes). */
#define MV_UI_TOKEN_HEX 64

typedef struct mv_ui_config {
    const char *deployment_path; /* the deployment file (required) */
    const char *user_dir;        /* the user's keys and credential (required) */
    const char *listen;          /* "127.x.y.z:PORT" (PORT 0 = any free port); NULL = "127.0.0.1:0" */
    const char *port_file;       /* if set, the bound port is written there once listening */
    const char *token;           /* fixed login token (tests; >= 32 printable characters, no
                                    spaces or '&'); NULL = 32 random bytes in hex */
} mv_ui_config;

/* 1 if listen is "a.b.c.d:PORT" with a = 127 (loopback), else 0. */
MV_API int mv_ui_listen_ok(const char *listen);

/* Opens the client (so a bad deployment or identity fails at once), starts the server, prints
 * "medvault ui: open http://ADDR:PORT/login?token=T" as one line on stdout (flushed), writes
 * the port file, and serves until SIGTERM or SIGINT, then shuts down cleanly.
 * Errors: MV_ERR_INVAL (NULL config or fields, a non-loopback listen address, a bad token),
 * what mv_client_open returns (the reason is logged), MV_ERR_NET (cannot listen),
 * MV_ERR_NOMEM, MV_ERR_CRYPTO (no randomness). */
MV_API mv_err mv_ui_run(const mv_ui_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
