/* cli.h - shared helpers of the medvault subcommands. (internal to the binary) */
#ifndef MV_CLI_H
#define MV_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

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
 * group's help. `group` is the prefix shown in usage ("medvault keyserver"). */
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
/* 1 if stderr is a terminal and CI is not set: progress output is allowed. */
int cli_progress_allowed(void);
/* Rewrites one progress line on stderr ("what: done/total") when progress is allowed;
 * with done == total it ends the line. Silent under CI or without a terminal. */
void cli_progress(const char *what, size_t done, size_t total);

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
int cmd_rm(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_ui(int argc, char **argv);

#endif
