/* workflow.h - the small framework of the hospital workflow commands (cmd_appointment.c,
 * cmd_delegate.c, cmd_share.c, cmd_directory.c, cmd_medicine.c, cmd_department.c,
 * cmd_user_*.c, cmd_alerts.c, cmd_stepup.c, cmd_dashboard.c), in workflow.c. Internal to the
 * medvault binary. */
#ifndef MV_CLI_WORKFLOW_H
#define MV_CLI_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

struct mv_client;

/* A command's parsed options: the common ones plus up to 16 named values (v[idx], NULL when
 * not given; they point into argv). */
typedef struct wf_opts {
    cli_common c;
    const char *v[16];
} wf_opts;

/* One option of a command: long name, index into wf_opts.v (or -1 for flags handled here). */
typedef struct wf_opt {
    const char *name;
    int idx;
} wf_opt;

/* Parses --deployment, --user, --json, --help and own[0..n_own) (each takes a value) into *o;
 * with need_user, --deployment and --user (or their environment variables) are required.
 * Leaves the positional arguments in argv[optind..argc). Returns -1 to go on, else the exit
 * code after printing the usage. */
int wf_parse(int argc, char **argv, const char *usage, const wf_opt *own, size_t n_own, wf_opts *o,
             int need_user);
/* The exit code (after printing the usage) unless exactly n positional arguments follow
 * optind_now; -1 to go on. */
int wf_expect_args(int argc, int optind_now, int n, const char *usage);

/* Appends "name":"value" to the JSON object being built in b ("{" already written), with a
 * comma unless it is the first member; nothing when value is NULL. Errors of mv_buf. */
mv_err wf_json_str(mv_buf *b, const char *name, const char *value);
/* As wf_json_str, for a number. */
mv_err wf_json_u64(mv_buf *b, const char *name, uint64_t v);
/* Appends ?name=value or &name=value (value percent-encoded) to the path in b; nothing when
 * value is NULL. Errors of mv_buf. */
mv_err wf_query_add(mv_buf *b, const char *name, const char *value);
/* b's content as a C string (a NUL is written past b->len, not counted); "" if that fails. */
const char *wf_cstr(mv_buf *b);

/* One signed call to the hospital through cl: CLI_OK on a 2xx answer, parsed into *root when
 * root is not NULL (the caller frees it) and printed unchanged under --json; otherwise prints
 * the service's error and returns CLI_FAIL (*root is NULL). */
int wf_call(struct mv_client *cl, const wf_opts *o, const char *method, const char *path, mv_buf *body,
            mv_json **root);
/* wf_call on a client opened for o and closed again. */
int wf_simple(const wf_opts *o, const char *method, const char *path, mv_buf *body, mv_json **root);

/* Reads a time argument (unix seconds, or YYYY-MM-DDTHH:MM[:SS][Z] in UTC) into *out; prints
 * an error and returns -1 if it is not one. */
int wf_time_arg(const char *s, uint64_t *out);
/* Writes t as "YYYY-MM-DD HH:MM UTC" ("-" for 0) into out. */
void wf_fmt_time(uint64_t t, char out[32]);

/* A column of a printed table: header, JSON path ("doctor.name"), how to show it. */
enum col_kind { COL_STR, COL_TIME, COL_KEY, COL_LIST };
typedef struct wf_col {
    const char *header;
    const char *path;
    enum col_kind kind;
} wf_col;

/* Prints arr (a JSON array of objects) as an aligned table of cols[0..nc) (at most 12);
 * "(none)" when it is empty. */
void wf_print_table(const mv_json *arr, const wf_col *cols, size_t nc);
/* Prints one object as "HEADER value" lines, one per column. */
void wf_print_fields(const mv_json *obj, const wf_col *cols, size_t nc);

/* The columns of a hospital user (directory, profile, user status and show). */
extern const wf_col wf_user_cols[6];
#define WF_N_USER_COLS (sizeof wf_user_cols / sizeof wf_user_cols[0])

#endif
