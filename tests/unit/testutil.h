/* testutil.h - helpers shared by the unit tests (cmocka). */
#ifndef MV_TESTUTIL_H
#define MV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_json.h"

/* Reads tests/vectors/<name> (directory from $MV_VECTORS_DIR) into a NUL-terminated heap
 * buffer; fails the test if it cannot. Free with mv_free. */
char *tu_read_vector_file(const char *name, size_t *len);
/* Parses tests/vectors/<name> as JSON; fails the test on error. Free with mv_json_free. */
mv_json *tu_load_json(const char *name);
/* Decodes hex of any even length into a new heap buffer (mv_free); *n receives its length.
 * Fails the test on malformed hex. */
uint8_t *tu_hex(const char *hex, size_t *n);
/* Decodes obj[key] (a hex string) into a new heap buffer; fails the test if missing. */
uint8_t *tu_json_hex(const mv_json *obj, const char *key, size_t *n);
/* obj[key] as an unsigned integer; fails the test if missing or not one. */
uint64_t tu_json_u64(const mv_json *obj, const char *key);
/* 1 if p[0..n) is all zero bytes (constant time is not needed in tests). */
int tu_all_zero(const uint8_t *p, size_t n);
/* Makes a fresh empty temporary directory and returns its path (static storage, valid
 * until the next call). */
const char *tu_tmpdir(void);
/* GET http://127.0.0.1:PORT/metrics into out (reset first), with the bearer token of the
 * daemon whose state directory is token_dir (its metrics.token), or without credentials if
 * token_dir is NULL. Returns the HTTP status; fails the test if there is no answer. */
long tu_get_metrics(unsigned port, const char *token_dir, mv_buf *out);
/* One HTTP call to url (60 s timeout): body[0..len) (may be NULL when len is 0), signed by id
 * with credential cred (base64) when id is not NULL, the answer's body into out (reset first)
 * if not NULL. Returns the HTTP status; fails the test if no answer arrives. */
struct mv_identity;
long tu_call(const char *method, const char *url, const void *body, size_t len, const struct mv_identity *id,
             const char *cred, mv_buf *out);
/* A credential for subject (32 bytes) with role and department dept (NULL: none), valid from
 * 1,000 s ago for 10 hours, signed by the test hospital identity hospital: its base64 in a new
 * heap string (mv_free). Fails the test on error. */
char *tu_credential(const struct mv_identity *hospital, const uint8_t subject[32], const char *role, const char *dept);
/* Starts `$MEDVAULT_BIN up --dir mvdir` (MV_LOG=warn) and waits up to 90 s for mvdir/ready;
 * returns its pid. Fails the test if it does not get ready. */
int tu_up_start(const char *mvdir);
/* SIGTERM to the pid tu_up_start returned, and waits: 0 if it exited 0, -1 otherwise
 * (also for pid <= 0). */
int tu_up_stop(int pid);

/* The most arguments tu_daemon_start passes after $MEDVAULT_BIN. */
#define TU_DAEMON_ARGS_MAX 32
/* Removes port_file, spawns `$MEDVAULT_BIN args...` (args ends with NULL and should carry
 * `--port-file port_file`), and waits up to 15 s for the daemon to write its port there;
 * stores the port in *port and returns the pid. Fails the test, naming `what`, if the daemon
 * exits or does not write the port in time. */
pid_t tu_daemon_start(const char *what, const char *port_file, const char *const args[], unsigned *port);
/* SIGTERM to *pid and waits up to 15 s: fails the test, naming `what`, unless the daemon
 * exits with status 0 (killing it when it ignores SIGTERM). Sets *pid to -1. */
void tu_daemon_stop(const char *what, pid_t *pid);
/* SIGKILL to *pid (a crash, for recovery tests) and reaps it; sets *pid to -1. */
void tu_daemon_kill(pid_t *pid);

#endif
