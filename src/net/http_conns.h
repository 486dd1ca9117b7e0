/* http_conns.h - the HTTP server's table of open TCP connections: deadlines a trickle cannot
 * extend, and per-address eviction of connections that hold a slot without sending a request.
 * (internal to src/net; http_server.c is its only user)
 *
 * Every connection the server accepts is registered here (mv_httpconn_open) until the
 * server closes it (mv_httpconn_close). Each is in one phase:
 *
 *   WAITING   accepted, or its previous response completed (keep-alive): it must deliver a
 *             complete request head within header_timeout_ms of entering the phase
 *   BODY      head received, body arriving: after a grace of header_timeout_ms it must have
 *             delivered at least min_rate bytes per second on average since the head
 *   HANDLER   the request handler runs: no deadline (the server's own time)
 *   SENDING   the response is queued: it must be read within header_timeout_ms plus its
 *             length at min_rate
 *
 * A reaper thread checks the deadlines a few times per second and shutdown()s the socket of a
 * connection past its deadline; the server's event loop then sees end-of-file and closes it.
 * A WAITING or BODY connection whose bytes wait unread in the kernel is spared: then the
 * server (a worker thread busy with a long request), not the client, is slow.
 * On open, if the new connection's address already holds max_pending_per_addr WAITING
 * connections, its oldest WAITING one is shut down; if the table holds 7/8 of
 * max_connections, the oldest WAITING connection of any address is. The newest connection
 * (a probe, an honest client) is therefore served, and a flood only evicts itself.
 *
 * Why shutdown() on a socket libmicrohttpd owns is safe: libmicrohttpd 0.9.75 delivers
 * MHD_CONNECTION_NOTIFY_CLOSED (which calls mv_httpconn_close, taking the table lock) before it
 * close()s the descriptor (daemon.c, MHD_cleanup_connections and new_connection_process_), and
 * every shutdown() here runs with the table lock held on a connection still in the table, so
 * the descriptor cannot have been closed and reused by then.
 *
 * Thread-safety: every function may be called from any thread (one mutex per table). */
#ifndef MV_NET_HTTP_CONNS_H
#define MV_NET_HTTP_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_err.h"
#include "medvault/mv_metrics.h"

typedef struct mv_httpconns mv_httpconns;
typedef struct mv_httpconn mv_httpconn;

typedef struct mv_httpconns_config {
    uint64_t header_timeout_ms;  /* > 0 */
    uint64_t min_rate;           /* bytes per second, > 0 */
    size_t max_connections;      /* > 0: the server's own connection limit */
    size_t max_pending_per_addr; /* > 0 */
    mv_metrics *metrics;         /* optional, borrowed: closures by reason, open connections */
    const char *component;       /* metric prefix (already validated by the server) */
} mv_httpconns_config;

/* Creates a table and starts its reaper thread. cfg is copied.
 * Errors: MV_ERR_INVAL (NULL, a zero field), MV_ERR_NOMEM (also: the thread cannot start). */
mv_err mv_httpconns_new(const mv_httpconns_config *cfg, mv_httpconns **out) __attribute__((warn_unused_result));

/* Stops the reaper and frees the table and any connection still in it (accepts NULL). The
 * server must have stopped (no further calls, no descriptor still open through it). */
void mv_httpconns_free(mv_httpconns *t);

/* Registers an accepted connection: fd is its socket, addr its IPv4 address (network order),
 * owner an opaque pointer given back to mv_httpconns_rescue. Phase WAITING. May shut down
 * other connections (see the top of this file). Returns NULL only when out of memory (the
 * connection then simply has no deadline; the server's idle timeout still applies). */
mv_httpconn *mv_httpconn_open(mv_httpconns *t, int fd, uint32_t addr, void *owner);

/* Unregisters and frees c (accepts NULL). Called before the descriptor is closed. */
void mv_httpconn_close(mv_httpconns *t, mv_httpconn *c);

/* Phase changes (each accepts a NULL c). */
void mv_httpconn_head_done(mv_httpconns *t, mv_httpconn *c); /* -> BODY */
void mv_httpconn_body(mv_httpconns *t, mv_httpconn *c, size_t n); /* n more body bytes arrived */
void mv_httpconn_handling(mv_httpconns *t, mv_httpconn *c); /* -> HANDLER */
void mv_httpconn_sending(mv_httpconns *t, mv_httpconn *c, size_t response_len); /* -> SENDING */
void mv_httpconn_waiting(mv_httpconns *t, mv_httpconn *c); /* -> WAITING (request completed) */

/* For a connection whose request libmicrohttpd itself refuses in a way that would put two
 * responses on the wire (see http_server.c): among the WAITING connections registered by the
 * calling thread, finds the first for which match(owner, arg) returns 1, writes resp[0..len)
 * to its socket, shuts the socket down (so nothing else is sent on it) and marks it. Returns
 * 1 if one was found, else 0. match runs with the table lock held: it must not call back
 * into the table. */
int mv_httpconns_rescue(mv_httpconns *t, int (*match)(void *owner, void *arg), void *arg, const void *resp,
                        size_t len);

/* Shuts down every WAITING connection (the server is stopping: they have no request to
 * finish). */
void mv_httpconns_drain(mv_httpconns *t);

/* Open connections (for tests and metrics). */
size_t mv_httpconns_count(mv_httpconns *t);

#endif
