/* cli.h - shared helpers of the medvault subcommands. (internal to the binary) */
#ifndef MV_CLI_H
#define MV_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

/* Exit codes: 0 ok, 1 operation failed, 2 usage error. */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

typedef int (*cli_fn)(int argc, char **argv);

typedef struct cli_cmd {
    const char *name;
    cli_fn fn;
    const char *summary;
} cli_cmd;

/* Runs the subcommand named argv[1] from table (argv[0] is the group's name), or prints the
 * group's help. `group` is the prefix shown in usage ("medvault keyserver"). `help CMD...` and
 * `CMD -h` (-h right after the command) run as `CMD... --help`. May rewrite argv[2]. */
int cli_dispatch(const char *group, const cli_cmd *table, int argc, char **argv);

/* Prints "medvault: <msg>" to stderr. Never pass patient data or secrets. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the usage text and returns CLI_USAGE (or CLI_OK when help was asked for). */
int cli_usage(const char *text, int asked);
/* Reads a hex argument of exactly n bytes; prints an error naming `what` on failure. */
int cli_hex_arg(const char *arg, uint8_t *out, size_t n, const char *what);
/* Reads an unsigned integer argument in [min, max]. */
int cli_u64_arg(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char *what);
/* Writes b's content to stdout. */
int cli_print_buf(const mv_buf *b);
/* Writes a record's (or canonical form's) bytes p[0..len) to stdout exactly as they are, and
 * only when stdout is a terminal a newline after them if they do not end in one (so that the
 * prompt starts on its own line): redirected, `get ID > F` gives the same bytes as
 * `get ID -o F`. CLI_OK, or CLI_FAIL if writing failed. */
int cli_print_content(const uint8_t *p, size_t len);
/* A one-line --json answer: cli_json_begin initialises b (64 KiB cap) and w and opens the
 * object; the caller writes its members; cli_json_end closes it, prints it with a newline,
 * and clears b. CLI_OK, or CLI_FAIL if writing or printing failed. */
void cli_json_begin(mv_jw *w, mv_buf *b);
int cli_json_end(mv_jw *w, mv_buf *b);
/* 1 if stderr is a terminal and CI is not set: progress output is allowed. */
int cli_progress_allowed(void);
/* Rewrites one progress line on stderr ("what: done/total") when progress is allowed;
 * with done == total it erases the line. Silent under CI or without a terminal. Thread-safe. */
void cli_progress(const char *what, size_t done, size_t total);
/* Erases the progress line if one is shown. Call it before writing to stdout (which may be
 * the same terminal) while no other thread shows progress; cli_err does it itself. */
void cli_progress_clear(void);
/* Prints to stdout (as printf) and flushes, after erasing the progress line, atomically
 * with respect to progress and cli_err: for result lines written while work goes on. */
void cli_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One row of a command's option table for cli_parse: a long option that takes a value
 * (stored through value; it points into argv) or a flag (set to 1 through flag). A row with
 * neither is --help. With required set, a missing option prints the usage. */
typedef struct cli_opt {
    const char *name;
    const char **value;
    int *flag;
    int required;
} cli_opt;
#define CLI_OPT_HELP {"help", NULL, NULL, 0}
#define CLI_OPTS_MAX 32

/* Parses argv[1..argc) against table, which ends with a row whose name is NULL (at most
 * CLI_OPTS_MAX rows). The command takes no positional arguments. Returns -1 to go on, else
 * the exit code after printing usage: CLI_OK for --help, CLI_USAGE for an unknown option, a
 * positional argument or a missing required option. */
int cli_parse(int argc, char **argv, const cli_opt *table, const char *usage);
/* Reads --threads N (1..256) into *out; prints an error and returns -1 on a bad value. */
int cli_threads_arg(const char *arg, unsigned *out);

/* Options every command that talks to the services shares. */
#define CLI_COMMON_HELP                                                                                      \
    "  --deployment F   the deployment file (default $MEDVAULT_DEPLOYMENT)\n"                              \
    "  --user DIR       the user's directory: keys and credential (default $MEDVAULT_USER)\n"

typedef struct cli_common {
    const char *deployment, *user, *department;
    int json, no_cache;
} cli_common;

/* Zeroes o and takes deployment and user from $MEDVAULT_DEPLOYMENT / $MEDVAULT_USER. */
void cli_common_init(cli_common *o);
/* CLI_OK if deployment and user are set, else prints the usage (CLI_USAGE). */
int cli_common_check(const cli_common *o, const char *usage);
struct mv_client;
struct mv_client_options;
/* Opens the client for o (department, no_cache from o; the rest of the options from extra,
 * may be NULL), with progress output named `what` on terminals. Prints a clear error and
 * returns NULL on failure. */
struct mv_client *cli_open_client(const cli_common *o, const struct mv_client_options *extra, const char *what);
/* Loads the deployment file at path (mv_deployment_load_msg; for user_dir, when not NULL,
 * with its hospital key pin checked) into *out. CLI_OK, or CLI_FAIL after saying which file
 * is at fault and what is wrong with it. */
struct mv_deployment;
int cli_load_deployment(const char *path, const char *user_dir, struct mv_deployment *out);
/* The --hospital-url and --revocation-poll flags of the services that poll the revocation
 * list (either may be NULL = keep the config's value): checks and copies them into
 * url_out[0..cap) and *poll_out. Prints an error and returns -1 on a bad value. */
int cli_revocation_args(const char *url, const char *poll, char *url_out, size_t cap, unsigned *poll_out);
/* Reads "Type/id" or "Type/id/_history/N" (type[65], id[65], *version 0 for the latest; any
 * may be NULL); prints an error and returns 1 if it is not one. */
int cli_fhir_ref_arg(const char *s, char *type, char *id, uint32_t *version);
/* Brings the user's local index up to date (mv_client_index_sync); prints why not. */
int cli_sync_index(struct mv_client *cl, const char *what);
/* The record id of a FHIR reference (cli_fhir_ref_arg) from the local index. */
int cli_resolve_ref(struct mv_client *cl, const char *s, uint8_t id[16]);
/* Reads a 32-hex-digit record id; prints an error and returns 1 if it is not one. */
int cli_id_arg(const char *s, uint8_t id[16]);

int cmd_hospital(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_credential(int argc, char **argv);
int cmd_keyserver(int argc, char **argv);
int cmd_deployment(int argc, char **argv);
int cmd_oprf(int argc, char **argv);
int cmd_hospital_run(int argc, char **argv);
int cmd_storage(int argc, char **argv);
int cmd_canon(int argc, char **argv);
int cmd_genemr(int argc, char **argv);
int cmd_genimaging(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_appointment(int argc, char **argv);
int cmd_delegate(int argc, char **argv);
int cmd_share(int argc, char **argv);
/* `medvault group` (cmd_group.c, which routes to cmd_group_files.c and cmd_group_open.c). */
int cmd_group(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_medicine(int argc, char **argv);
int cmd_department(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_dashboard(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* `medvault user status` and `user show` (cmd_user_status.c), `user register`
 * (cmd_user_register.c). */
int cli_user_status(int argc, char **argv);
int cli_user_show(int argc, char **argv);
int cli_user_register(int argc, char **argv);
/* `medvault user device add|list` (cmd_user_device.c). */
int cli_user_device(int argc, char **argv);
int cmd_stepup(int argc, char **argv);
/* Tells the user (stderr) that the storage server asked `what` to step up, why (with bulk set:
 * a bulk read such as `get --all` goes past the access profile) and the way on: request,
 * wait for an admin, collect, run again (cmd_stepup.c). */
void cli_stepup_hint(const char *what, int bulk);
int cmd_ui(int argc, char **argv);
/* `medvault fhir serve` (cmd_fhir.c). */
int cmd_fhir(int argc, char **argv);
int cmd_honeytoken(int argc, char **argv);

#endif
