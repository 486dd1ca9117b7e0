/* cmd_workflow.c - the hospital workflow from the command line: appointments, delegations,
 * sharing, the directory, profiles, the formulary, departments, user status and the admin
 * dashboard's login, alerts, device keys and step-up. Every command is one or a few signed calls to the hospital's JSON API
 * (docs/api.md); --json prints the service's answer unchanged. Nothing here sees record
 * content except `share`, which rewraps record keys on this machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_alert.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define RESP_MAX ((size_t)64 << 20)
#define BODY_MAX ((size_t)1 << 20)

/* ---------- small helpers ---------- */

/* A command's parsed options: the common ones plus up to 12 named values. */
typedef struct wf_opts {
    cli_common c;
    const char *v[16];
} wf_opts;

/* One option of a command: long name, index into wf_opts.v (or -1 for flags handled here). */
typedef struct wf_opt {
    const char *name;
    int idx;
} wf_opt;

/* Parses --deployment, --user, --json, --help and the command's own options (each takes one
 * argument). Positional arguments stay in argv[optind..argc). Returns -1 to go on, else the
 * exit code. */
static int wf_parse(int argc, char **argv, const char *usage, const wf_opt *own, size_t n_own, wf_opts *o,
                    int need_user)
{
    struct option opts[24];
    size_t n = 0;
    int c;
    memset(o, 0, sizeof *o);
    cli_common_init(&o->c);
    opts[n++] = (struct option){"deployment", required_argument, NULL, 'D'};
    opts[n++] = (struct option){"user", required_argument, NULL, 'u'};
    opts[n++] = (struct option){"json", no_argument, NULL, 'j'};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (size_t i = 0; i < n_own && n < 23; i++)
        opts[n++] = (struct option){own[i].name, required_argument, NULL, 256 + own[i].idx};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c >= 256 && c < 256 + 16) {
            o->v[c - 256] = optarg;
            continue;
        }
        switch (c) {
        case 'D': o->c.deployment = optarg; break;
        case 'u': o->c.user = optarg; break;
        case 'j': o->c.json = 1; break;
        case 'h': return cli_usage(usage, 1);
        default: return cli_usage(usage, 0);
        }
    }
    if (need_user && cli_common_check(&o->c, usage) != CLI_OK)
        return CLI_USAGE;
    return -1;
}

/* Appends "name":"value" (with a leading comma unless first) when value is not NULL. */
static mv_err jb_str(mv_buf *b, const char *name, const char *value)
{
    mv_err rc = MV_OK;
    if (!value)
        return MV_OK;
    if (b->len > 1)
        rc = mv_buf_puts(b, ",");
    if (rc == MV_OK)
        rc = mv_json_write_str(b, name, strlen(name));
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ":");
    if (rc == MV_OK)
        rc = mv_json_write_str(b, value, strlen(value));
    return rc;
}

static mv_err jb_u64(mv_buf *b, const char *name, uint64_t v)
{
    mv_err rc = b->len > 1 ? mv_buf_puts(b, ",") : MV_OK;
    if (rc == MV_OK)
        rc = mv_json_write_str(b, name, strlen(name));
    if (rc == MV_OK)
        rc = mv_buf_printf(b, ":%llu", (unsigned long long)v);
    return rc;
}

/* Appends name=value to a query string being built in b (percent-encoding the value). */
static mv_err qs_add(mv_buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    mv_err rc;
    if (!value)
        return MV_OK;
    if ((rc = mv_buf_puts(b, strchr((const char *)b->ptr, '?') ? "&" : "?")) != MV_OK ||
        (rc = mv_buf_printf(b, "%s=", name)) != MV_OK)
        return rc;
    for (const unsigned char *p = (const unsigned char *)value; *p && rc == MV_OK; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            rc = mv_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = mv_buf_append(b, e, 3);
        }
    }
    return rc;
}

/* NUL-terminates b (without counting the NUL) so it can be used as a C string. */
static const char *buf_cstr(mv_buf *b)
{
    if (mv_buf_reserve(b, 1) != MV_OK)
        return "";
    b->ptr[b->len] = 0;
    return (const char *)b->ptr;
}

/* One call to the hospital. On success (2xx) returns CLI_OK with the answer parsed into *root
 * (if root is not NULL) and printed as is under --json; on failure prints the service's
 * error and returns CLI_FAIL. */
static int wf_call(mv_client *cl, const wf_opts *o, const char *method, const char *path, mv_buf *body,
                   mv_json **root)
{
    mv_buf resp;
    long status = 0;
    int ret = CLI_FAIL;
    mv_buf_init(&resp, RESP_MAX);
    if (root)
        *root = NULL;
    mv_err rc = mv_client_hospital(cl, method, path, body ? body->ptr : NULL, body ? body->len : 0, &status, &resp);
    if (rc != MV_OK) {
        cli_err("%s", mv_client_last_error(cl));
        goto out;
    }
    if (status >= 300) {
        mv_json *e = NULL;
        const char *msg = NULL;
        if (mv_json_parse((const char *)resp.ptr, resp.len, NULL, &e, NULL) == MV_OK)
            msg = mv_json_get_str(e, "error", NULL);
        cli_err("the hospital answered %ld: %s", status, msg ? msg : "(no message)");
        mv_json_free(e);
        goto out;
    }
    if (root && mv_json_parse((const char *)resp.ptr, resp.len, NULL, root, NULL) != MV_OK) {
        cli_err("the hospital's answer is not JSON");
        goto out;
    }
    if (o->c.json && (cli_print_buf(&resp) != CLI_OK || (resp.len && resp.ptr[resp.len - 1] != '\n' && puts("") < 0)))
        goto out;
    ret = CLI_OK;
out:
    if (ret != CLI_OK && root) {
        mv_json_free(*root);
        *root = NULL;
    }
    mv_buf_clear(&resp);
    return ret;
}

/* Opens the client, runs one call and closes it. */
static int wf_simple(const wf_opts *o, const char *method, const char *path, mv_buf *body, mv_json **root)
{
    mv_client *cl = cli_open_client(&o->c, NULL, "hospital");
    if (!cl)
        return CLI_FAIL;
    int r = wf_call(cl, o, method, path, body, root);
    mv_client_close(cl);
    return r;
}

/* Unix seconds from "1700000000" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC). */
static int time_arg(const char *s, uint64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec = 0;
    char z = 0;
    size_t l = strlen(s);
    if (l && strspn(s, "0123456789") == l)
        return cli_u64_arg(s, 0, 253402300799ull, out, "time");
    memset(&tm, 0, sizeof tm);
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &z);
    if (n < 5) {
        n = sscanf(s, "%4d-%2d-%2d %2d:%2d", &y, &mo, &d, &h, &mi);
        if (n != 5) {
            cli_err("a time is unix seconds or YYYY-MM-DDTHH:MM (UTC)");
            return -1;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 ||
        y < 1970 || (n == 7 && z != 'Z')) {
        cli_err("a time is unix seconds or YYYY-MM-DDTHH:MM (UTC)");
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t < 0) {
        cli_err("time out of range");
        return -1;
    }
    *out = (uint64_t)t;
    return 0;
}

static void fmt_time(uint64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!t || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, 32, "-");
}

/* A column of a printed table: header, JSON path ("doctor.name"), how to show it. */
enum col_kind { COL_STR, COL_TIME, COL_KEY, COL_LIST };
typedef struct wf_col {
    const char *header;
    const char *path;
    enum col_kind kind;
} wf_col;

static const mv_json *json_path(const mv_json *v, const char *path)
{
    char part[64];
    while (v && *path) {
        size_t l = strcspn(path, ".");
        if (l >= sizeof part)
            return NULL;
        memcpy(part, path, l);
        part[l] = 0;
        v = mv_json_get(v, part);
        path += l + (path[l] == '.');
    }
    return v;
}

static void cell(const mv_json *v, enum col_kind kind, char *out, size_t cap)
{
    size_t l = 0;
    const char *s;
    uint64_t n = 0;
    out[0] = 0;
    if (!v || mv_json_type_of(v) == MV_JSON_NULL) {
        snprintf(out, cap, "-");
        return;
    }
    switch (kind) {
    case COL_TIME:
        if (mv_json_u64(v, &n) == MV_OK) {
            char t[32];
            fmt_time(n, t);
            snprintf(out, cap, "%s", t);
        }
        return;
    case COL_KEY:
        if ((s = mv_json_str(v, &l)) != NULL)
            snprintf(out, cap, "%.*s", (int)(l < 16 ? l : 16), s);
        return;
    case COL_LIST:
        for (size_t i = 0; i < mv_json_len(v); i++) {
            const char *e = mv_json_str(mv_json_at(v, i), &l);
            size_t used = strlen(out);
            if (e && used + l + 2 < cap)
                snprintf(out + used, cap - used, "%s%.*s", i ? "," : "", (int)l, e);
        }
        if (!out[0])
            snprintf(out, cap, "-");
        return;
    case COL_STR:
        break;
    }
    if ((s = mv_json_str(v, &l)) != NULL)
        snprintf(out, cap, "%.*s", (int)l, s);
    else if ((s = mv_json_num(v, &l)) != NULL)
        snprintf(out, cap, "%.*s", (int)l, s);
    else if (mv_json_type_of(v) == MV_JSON_TRUE || mv_json_type_of(v) == MV_JSON_FALSE)
        snprintf(out, cap, "%s", mv_json_type_of(v) == MV_JSON_TRUE ? "yes" : "no");
}

/* Prints arr (a JSON array of objects) as an aligned table; "(none)" when empty. */
static void print_table(const mv_json *arr, const wf_col *cols, size_t nc)
{
    size_t w[12] = {0}, n = mv_json_len(arr);
    char buf[256];
    if (nc > 12)
        nc = 12;
    if (!n) {
        puts("(none)");
        return;
    }
    for (size_t c = 0; c < nc; c++)
        w[c] = strlen(cols[c].header);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < nc; c++) {
            cell(json_path(mv_json_at(arr, i), cols[c].path), cols[c].kind, buf, 48);
            if (strlen(buf) > w[c])
                w[c] = strlen(buf);
        }
    for (size_t c = 0; c < nc; c++)
        printf("%-*s%s", (int)w[c], cols[c].header, c + 1 < nc ? "  " : "\n");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < nc; c++) {
            cell(json_path(mv_json_at(arr, i), cols[c].path), cols[c].kind, buf, 48);
            printf("%-*s%s", (int)w[c], buf, c + 1 < nc ? "  " : "\n");
        }
}

/* Prints one object as "field: value" lines. */
static void print_fields(const mv_json *obj, const wf_col *cols, size_t nc)
{
    char buf[256];
    for (size_t c = 0; c < nc; c++) {
        cell(json_path(obj, cols[c].path), cols[c].kind, buf, sizeof buf);
        printf("%-12s %s\n", cols[c].header, buf);
    }
}

static int expect_args(int argc, int optind_now, int n, const char *usage)
{
    if (argc - optind_now != n) {
        if (n)
            cli_err("expected %d argument%s", n, n == 1 ? "" : "s");
        else
            cli_err("unexpected arguments");
        return cli_usage(usage, 0);
    }
    return -1;
}

/* ---------- appointment ---------- */

static const wf_col appt_cols[] = {
    {"ID", "id", COL_STR},           {"STATUS", "status", COL_STR},     {"WHEN", "starts_at", COL_TIME},
    {"PLACE", "place", COL_STR},     {"DEPARTMENT", "department", COL_STR}, {"PATIENT", "patient.name", COL_STR},
    {"MRN", "patient.mrn", COL_STR}, {"DOCTOR", "doctor.name", COL_STR},
};
#define N_APPT_COLS (sizeof appt_cols / sizeof appt_cols[0])

static void print_appointment(const mv_json *a)
{
    print_fields(a, appt_cols, N_APPT_COLS);
    wf_col more[] = {{"REASON", "reason", COL_STR}, {"DOCTOR KEY", "doctor.sign_public_key", COL_STR}};
    print_fields(a, more, 2);
}

enum { A_DEPT, A_REASON, A_PATIENT, A_DOCTOR, A_AT, A_PLACE, A_STATUS };

static const char appt_request_usage[] =
    "usage: medvault appointment request [--department D] [--reason TEXT] [--json]\n\n"
    "As a patient: asks the hospital for an appointment. The hospital assigns the department\n"
    "(if not given), designates a doctor and books a time and place.\n" CLI_COMMON_HELP;
static const char appt_book_usage[] =
    "usage: medvault appointment book --patient KEY|MRN [--department D] [--doctor KEY] [--at TIME]\n"
    "                                 [--place P] [--reason TEXT] [--json]\n\n"
    "As an admin: creates an appointment for a patient; it is booked once department, doctor,\n"
    "time and place are all set. TIME is unix seconds or YYYY-MM-DDTHH:MM (UTC).\n" CLI_COMMON_HELP;
static const char appt_update_usage[] =
    "usage: medvault appointment update ID [--department D] [--doctor KEY] [--at TIME] [--place P]\n"
    "                                      [--status booked|checked_in|completed|cancelled] [--json]\n\n"
    "Changes an appointment: admins assign department, doctor, time and place; the designated\n"
    "doctor checks the patient in and completes it; the patient cancels.\n" CLI_COMMON_HELP;

static int appt_send(int argc, char **argv, const char *usage, int create)
{
    static const wf_opt own[] = {{"department", A_DEPT}, {"reason", A_REASON}, {"patient", A_PATIENT},
                                 {"doctor", A_DOCTOR},   {"at", A_AT},         {"place", A_PLACE},
                                 {"status", A_STATUS}};
    wf_opts o;
    mv_buf body, path;
    mv_json *root = NULL;
    uint64_t at = 0;
    int r = wf_parse(argc, argv, usage, own, sizeof own / sizeof own[0], &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, create ? 0 : 1, usage)) >= 0)
        return r;
    if (o.v[A_AT] && time_arg(o.v[A_AT], &at) != 0)
        return CLI_USAGE;
    const char *id = create ? NULL : argv[optind];
    if (id && !mv_is_lower_hex(id, 32)) {
        cli_err("an appointment id is 32 lowercase hex digits");
        return CLI_USAGE;
    }
    mv_buf_init(&body, BODY_MAX);
    mv_buf_init(&path, 256);
    mv_err rc = mv_buf_puts(&body, "{");
    if (rc == MV_OK) rc = jb_str(&body, "department", o.v[A_DEPT]);
    if (rc == MV_OK) rc = jb_str(&body, "reason", o.v[A_REASON]);
    if (rc == MV_OK) rc = jb_str(&body, "patient", o.v[A_PATIENT]);
    if (rc == MV_OK) rc = jb_str(&body, "doctor", o.v[A_DOCTOR]);
    if (rc == MV_OK && o.v[A_AT]) rc = jb_u64(&body, "starts_at", at);
    if (rc == MV_OK) rc = jb_str(&body, "place", o.v[A_PLACE]);
    if (rc == MV_OK) rc = jb_str(&body, "status", o.v[A_STATUS]);
    if (rc == MV_OK) rc = mv_buf_puts(&body, "}");
    if (rc == MV_OK) rc = create ? mv_buf_puts(&path, "/v1/appointments") : mv_buf_printf(&path, "/v1/appointments/%s", id);
    if (rc != MV_OK) {
        cli_err("arguments too long");
        r = CLI_USAGE;
    } else if ((r = wf_simple(&o, "POST", buf_cstr(&path), &body, &root)) == CLI_OK && !o.c.json) {
        print_appointment(root);
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_buf_clear(&path);
    return r;
}

static int appt_request(int argc, char **argv) { return appt_send(argc, argv, appt_request_usage, 1); }
static int appt_book(int argc, char **argv) { return appt_send(argc, argv, appt_book_usage, 1); }
static int appt_update(int argc, char **argv) { return appt_send(argc, argv, appt_update_usage, 0); }

/* checkin / complete / cancel ID: appointment update ID --status S. */
static int appt_status(int argc, char **argv, const char *status)
{
    char *args[16];
    int n = 0;
    if (argc > 12) {
        cli_err("too many arguments");
        return CLI_USAGE;
    }
    for (int i = 0; i < argc; i++)
        args[n++] = argv[i];
    args[n++] = (char *)"--status";
    args[n++] = (char *)status;
    args[n] = NULL;
    return appt_send(n, args, appt_update_usage, 0);
}
static int appt_checkin(int argc, char **argv) { return appt_status(argc, argv, "checked_in"); }
static int appt_complete(int argc, char **argv) { return appt_status(argc, argv, "completed"); }
static int appt_cancel(int argc, char **argv) { return appt_status(argc, argv, "cancelled"); }

static const char appt_list_usage[] =
    "usage: medvault appointment list [--doctor KEY|me] [--patient KEY|MRN|me] [--department D]\n"
    "                                 [--status S] [--json]\n\n"
    "Lists appointments: patients see their own, doctors theirs and their departments', admins\n"
    "all.\n" CLI_COMMON_HELP;

static int appt_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"doctor", 0}, {"patient", 1}, {"department", 2}, {"status", 3}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, appt_list_usage, own, 4, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, appt_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 2048);
    mv_err rc = mv_buf_puts(&path, "/v1/appointments");
    if (rc == MV_OK) rc = qs_add(&path, "doctor", o.v[0]);
    if (rc == MV_OK) rc = qs_add(&path, "patient", o.v[1]);
    if (rc == MV_OK) rc = qs_add(&path, "department", o.v[2]);
    if (rc == MV_OK) rc = qs_add(&path, "status", o.v[3]);
    if (rc != MV_OK) {
        cli_err("arguments too long");
        r = CLI_USAGE;
    } else if ((r = wf_simple(&o, "GET", buf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json) {
        print_table(mv_json_get(root, "appointments"), appt_cols, N_APPT_COLS);
    }
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char appt_show_usage[] = "usage: medvault appointment show ID [--json]\n" CLI_COMMON_HELP;

static int appt_show(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, appt_show_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, appt_show_usage)) >= 0)
        return r;
    if (!mv_is_lower_hex(argv[optind], 32)) {
        cli_err("an appointment id is 32 lowercase hex digits");
        return CLI_USAGE;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        print_appointment(root);
    mv_json_free(root);
    return r;
}

int cmd_appointment(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"request", appt_request, "ask for an appointment (patients)"},
        {"book", appt_book, "create or book an appointment for a patient (admins)"},
        {"update", appt_update, "assign department, doctor, time, place, or change the status"},
        {"checkin", appt_checkin, "the designated doctor checks the patient in"},
        {"complete", appt_complete, "the designated doctor completes the appointment"},
        {"cancel", appt_cancel, "cancel an appointment"},
        {"list", appt_list, "list appointments (per doctor, patient, department, status)"},
        {"show", appt_show, "show one appointment"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault appointment", table, argc, argv);
}

/* ---------- delegate ---------- */

static const char deleg_grant_usage[] =
    "usage: medvault delegate grant --appointment ID [--days N] [--json]\n\n"
    "As the patient, at the appointment: signs a delegation to the appointment's doctor for this\n"
    "episode (default 7 days, at most 90). The hospital checks and countersigns it; the doctor\n"
    "may then write records for you, readable by you and the doctor.\n" CLI_COMMON_HELP;

static int deleg_grant(int argc, char **argv)
{
    static const wf_opt own[] = {{"appointment", 0}, {"days", 1}};
    wf_opts o;
    mv_client *cl = NULL;
    mv_identity *id = NULL;
    mv_json *appt = NULL, *root = NULL;
    mv_delegation d;
    char path[64], b64[MV_DELEGATION_B64_MAX];
    mv_buf body;
    uint64_t days = 7;
    int r = wf_parse(argc, argv, deleg_grant_usage, own, 2, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, deleg_grant_usage)) >= 0)
        return r;
    const char *aid = o.v[0];
    memset(&d, 0, sizeof d);
    if (!aid || strlen(aid) != 32 || mv_hex_decode_exact(d.appointment, 16, aid, 32) != MV_OK) {
        cli_err("--appointment ID (32 hex digits) is required");
        return CLI_USAGE;
    }
    if (o.v[1] && cli_u64_arg(o.v[1], 1, 90, &days, "--days") != 0)
        return CLI_USAGE;
    mv_buf_init(&body, 4096);
    r = CLI_FAIL;
    if (!(cl = cli_open_client(&o.c, NULL, "delegate")))
        goto out;
    if (mv_identity_load(o.c.user, &id) != MV_OK) {
        cli_err("%s: cannot load the user's keys", o.c.user);
        goto out;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", aid);
    wf_opts quiet = o;
    quiet.c.json = 0;
    if (wf_call(cl, &quiet, "GET", path, NULL, &appt) != CLI_OK)
        goto out;
    const char *dept = mv_json_get_str(appt, "department", NULL);
    const mv_json *doc = mv_json_get(appt, "doctor");
    if (!dept || mv_json_get_hex(doc, "sign_public_key", d.doctor, 32) != MV_OK) {
        cli_err("the appointment has no department or doctor yet: it must be booked first");
        goto out;
    }
    if (strlen(dept) > MV_DELEGATION_MAX_DEPT) {
        cli_err("department name too long");
        goto out;
    }
    memcpy(d.department, dept, strlen(dept) + 1);
    memcpy(d.patient, mv_identity_sign_pk(id), 32);
    d.issued_at = (uint64_t)time(NULL);
    d.expires_at = d.issued_at + days * 86400u;
    if (mv_delegation_sign(&d, mv_identity_sign_sk(id)) != MV_OK ||
        mv_delegation_to_b64(&d, b64, sizeof b64) != MV_OK) {
        cli_err("cannot sign the delegation (is this the appointment's patient?)");
        goto out;
    }
    if (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "delegation", b64) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK)
        goto out;
    if ((r = wf_call(cl, &o, "POST", "/v1/delegations", &body, &root)) == CLI_OK && !o.c.json) {
        const mv_json *dn = mv_json_get(doc, "name");
        const char *dname = mv_json_str(dn, NULL);
        char t[32];
        uint64_t exp = 0;
        (void)!mv_json_get_u64(root, "expires_at", &exp);
        fmt_time(exp, t);
        printf("delegated episode %s to %s until %s\n", aid, dname ? dname : "the doctor", t);
    }
out:
    mv_json_free(appt);
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_identity_free(id);
    mv_client_close(cl);
    return r;
}

static const wf_col deleg_cols[] = {
    {"ID", "id", COL_STR},          {"APPOINTMENT", "appointment", COL_STR}, {"PATIENT", "patient.name", COL_STR},
    {"MRN", "patient.mrn", COL_STR}, {"DOCTOR", "doctor.name", COL_STR},     {"EXPIRES", "expires_at", COL_TIME},
    {"REVOKED", "revoked", COL_STR},
};

static const char deleg_list_usage[] =
    "usage: medvault delegate list [--patient KEY|MRN] [--json]\n\n"
    "Lists delegations: doctors see those naming them, patients their own, admins all.\n" CLI_COMMON_HELP;

static int deleg_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"patient", 0}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, deleg_list_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, deleg_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 1024);
    if (mv_buf_puts(&path, "/v1/delegations") != MV_OK || qs_add(&path, "patient", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", buf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "delegations"), deleg_cols, sizeof deleg_cols / sizeof deleg_cols[0]);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char deleg_revoke_usage[] =
    "usage: medvault delegate revoke ID [--json]\n\n"
    "Withdraws a delegation (the patient or an admin): the hospital stops handing it out. A\n"
    "doctor who already fetched it can use it until it expires; records already written stay\n"
    "readable by them until you revoke their access with `medvault share revoke`.\n" CLI_COMMON_HELP;

static int deleg_revoke(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    uint64_t n = 0;
    int r = wf_parse(argc, argv, deleg_revoke_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, deleg_revoke_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, UINT64_MAX / 2, &n, "delegation id") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/delegations/%llu", (unsigned long long)n);
    if ((r = wf_simple(&o, "DELETE", path, NULL, NULL)) == CLI_OK && !o.c.json)
        printf("delegation %llu revoked\n", (unsigned long long)n);
    return r;
}

int cmd_delegate(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"grant", deleg_grant, "sign a delegation to your appointment's doctor (patients)"},
        {"list", deleg_list, "list delegations"},
        {"revoke", deleg_revoke, "withdraw a delegation"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault delegate", table, argc, argv);
}

/* ---------- share ---------- */

static const char share_usage[] =
    "usage: medvault share grant|revoke (RECORD_ID | --episode APPOINTMENT_ID) --to KEY [--json]\n"
    "       medvault share patient RECORD_ID --mrn MRN [--json]\n\n"
    "grant: lets the user with Ed25519 key KEY (64 hex) read the record, or every record of the\n"
    "episode: the record key is rewrapped on this machine and the storage ACL updated.\n"
    "revoke: removes their access at once. Key material they already fetched cannot be taken\n"
    "back: revoking stops further reads, it does not erase what was read.\n"
    "patient: the author of a record written before its patient registered names the patient.\n" CLI_COMMON_HELP;

static int share_run(int argc, char **argv, int mode /* 1 grant, 0 revoke, 2 patient */)
{
    static const wf_opt own[] = {{"to", 0}, {"episode", 1}, {"mrn", 2}};
    wf_opts o;
    uint8_t id[16], target[32];
    size_t changed = 0;
    int r = wf_parse(argc, argv, share_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    int by_episode = mode != 2 && o.v[1];
    if ((r = expect_args(argc, optind, by_episode ? 0 : 1, share_usage)) >= 0)
        return r;
    if (!by_episode && cli_id_arg(argv[optind], id))
        return CLI_USAGE;
    if (mode == 2 && !o.v[2]) {
        cli_err("--mrn MRN is required");
        return CLI_USAGE;
    }
    if (mode != 2 && (!o.v[0] || cli_hex_arg(o.v[0], target, 32, "--to KEY") != 0))
        return CLI_USAGE;
    if (by_episode && !mv_is_lower_hex(o.v[1], 32)) {
        cli_err("--episode takes an appointment id (32 lowercase hex digits)");
        return CLI_USAGE;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "share");
    if (!cl)
        return CLI_FAIL;
    mv_err rc;
    if (mode == 2)
        rc = mv_client_grant_patient(cl, id, o.v[2]);
    else if (by_episode)
        rc = mv_client_share_episode(cl, o.v[1], target, mode, &changed);
    else
        rc = mv_client_share(cl, id, target, mode);
    if (rc != MV_OK) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        r = CLI_FAIL;
    } else {
        const char *what = mode == 2 ? "patient set" : mode ? "granted" : "revoked";
        if (o.c.json)
            printf("{\"status\":\"%s\",\"records\":%zu}\n", what, by_episode ? changed : (size_t)1);
        else
            printf("%s on %zu record%s\n", what, by_episode ? changed : (size_t)1,
                   (by_episode ? changed : 1) == 1 ? "" : "s");
        r = CLI_OK;
    }
    mv_client_close(cl);
    return r;
}

static int share_grant(int argc, char **argv) { return share_run(argc, argv, 1); }
static int share_revoke(int argc, char **argv) { return share_run(argc, argv, 0); }
static int share_patient(int argc, char **argv) { return share_run(argc, argv, 2); }

int cmd_share(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"grant", share_grant, "let another user read a record or an episode"},
        {"revoke", share_revoke, "take that access away"},
        {"patient", share_patient, "name the patient of a record written before they registered"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault share", table, argc, argv);
}

/* ---------- directory, profile ---------- */

static const wf_col user_cols[] = {
    {"NAME", "name", COL_STR},     {"ROLE", "role", COL_STR},   {"DEPARTMENTS", "departments", COL_LIST},
    {"STATUS", "status", COL_STR}, {"MRN", "mrn", COL_STR},     {"KEY", "sign_public_key", COL_STR},
};
#define N_USER_COLS (sizeof user_cols / sizeof user_cols[0])

static const char directory_usage[] =
    "usage: medvault directory [--name TEXT] [--role admin|doctor|patient] [--department D]\n"
    "                          [--limit N] [--json]\n\n"
    "Searches the hospital's users (admins and doctors only).\n" CLI_COMMON_HELP;

int cmd_directory(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"role", 1}, {"department", 2}, {"limit", 3}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, directory_usage, own, 4, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, directory_usage)) >= 0)
        return r;
    mv_buf_init(&path, 2048);
    mv_err rc = mv_buf_puts(&path, "/v1/directory");
    if (rc == MV_OK) rc = qs_add(&path, "q", o.v[0]);
    if (rc == MV_OK) rc = qs_add(&path, "role", o.v[1]);
    if (rc == MV_OK) rc = qs_add(&path, "department", o.v[2]);
    if (rc == MV_OK) rc = qs_add(&path, "limit", o.v[3]);
    if (rc != MV_OK)
        r = CLI_USAGE;
    else if ((r = wf_simple(&o, "GET", buf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "users"), user_cols, N_USER_COLS);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char profile_usage[] =
    "usage: medvault profile [show] [--json]\n"
    "       medvault profile set [--email E] [--phone P] [--about TEXT] [--json]\n\n"
    "Shows or updates your own profile at the hospital.\n" CLI_COMMON_HELP;

int cmd_profile(int argc, char **argv)
{
    static const wf_opt own[] = {{"email", 0}, {"phone", 1}, {"about", 2}};
    wf_opts o;
    mv_buf body;
    mv_json *root = NULL;
    int set = argc >= 2 && !strcmp(argv[1], "set");
    if (argc >= 2 && (set || !strcmp(argv[1], "show"))) {
        argc--;
        argv++;
    }
    int r = wf_parse(argc, argv, profile_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, profile_usage)) >= 0)
        return r;
    if (!set && (o.v[0] || o.v[1] || o.v[2])) {
        cli_err("use `medvault profile set` to change the profile");
        return CLI_USAGE;
    }
    mv_buf_init(&body, 8192);
    if (set && (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "email", o.v[0]) != MV_OK ||
                jb_str(&body, "phone", o.v[1]) != MV_OK || jb_str(&body, "about", o.v[2]) != MV_OK ||
                mv_buf_puts(&body, "}") != MV_OK)) {
        mv_buf_clear(&body);
        cli_err("arguments too long");
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, set ? "PUT" : "GET", "/v1/profile", set ? &body : NULL, &root)) == CLI_OK && !o.c.json) {
        print_fields(root, user_cols, N_USER_COLS);
        wf_col more[] = {{"EMAIL", "email", COL_STR}, {"PHONE", "phone", COL_STR}, {"ABOUT", "about", COL_STR}};
        print_fields(root, more, 3);
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

/* ---------- medicine ---------- */

static const wf_col med_cols[] = {
    {"ID", "id", COL_STR},         {"NAME", "name", COL_STR},     {"FORM", "form", COL_STR},
    {"STRENGTH", "strength", COL_STR}, {"DOSAGE", "dosage", COL_STR}, {"CODE", "code", COL_STR},
};
#define N_MED_COLS (sizeof med_cols / sizeof med_cols[0])

static const char med_list_usage[] =
    "usage: medvault medicine list [--name TEXT] [--json]\n\nThe hospital's formulary.\n" CLI_COMMON_HELP;
static const char med_add_usage[] =
    "usage: medvault medicine add --name N --form F --strength S --dosage D [--code C] [--json]\n\n"
    "Adds or updates (same name, form and strength) a formulary entry (admins).\n" CLI_COMMON_HELP;
static const char med_rm_usage[] = "usage: medvault medicine rm ID [--json]\n\nRemoves a formulary entry (admins).\n" CLI_COMMON_HELP;

static int med_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, med_list_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, med_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 1024);
    if (mv_buf_puts(&path, "/v1/medicines") != MV_OK || qs_add(&path, "q", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", buf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "medicines"), med_cols, N_MED_COLS);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static int med_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"form", 1}, {"strength", 2}, {"dosage", 3}, {"code", 4}};
    wf_opts o;
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, med_add_usage, own, 5, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, med_add_usage)) >= 0)
        return r;
    if (!o.v[0] || !o.v[1] || !o.v[2] || !o.v[3]) {
        cli_err("--name, --form, --strength and --dosage are required");
        return cli_usage(med_add_usage, 0);
    }
    mv_buf_init(&body, 8192);
    mv_err rc = mv_buf_puts(&body, "{");
    if (rc == MV_OK) rc = jb_str(&body, "name", o.v[0]);
    if (rc == MV_OK) rc = jb_str(&body, "form", o.v[1]);
    if (rc == MV_OK) rc = jb_str(&body, "strength", o.v[2]);
    if (rc == MV_OK) rc = jb_str(&body, "dosage", o.v[3]);
    if (rc == MV_OK) rc = jb_str(&body, "code", o.v[4]);
    if (rc == MV_OK) rc = mv_buf_puts(&body, "}");
    if (rc != MV_OK)
        r = CLI_USAGE;
    else if ((r = wf_simple(&o, "POST", "/v1/medicines", &body, &root)) == CLI_OK && !o.c.json)
        print_fields(root, med_cols, N_MED_COLS);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static int med_rm(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    uint64_t n = 0;
    int r = wf_parse(argc, argv, med_rm_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, med_rm_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, UINT64_MAX / 2, &n, "medicine id") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/medicines/%llu", (unsigned long long)n);
    if ((r = wf_simple(&o, "DELETE", path, NULL, NULL)) == CLI_OK && !o.c.json)
        printf("medicine %llu removed\n", (unsigned long long)n);
    return r;
}

int cmd_medicine(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"list", med_list, "list the formulary"},
        {"add", med_add, "add or update a medicine (admins)"},
        {"rm", med_rm, "remove a medicine (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault medicine", table, argc, argv);
}

/* ---------- department ---------- */

static const char dept_list_usage[] = "usage: medvault department list [--json]\n" CLI_COMMON_HELP;
static const char dept_add_usage[] =
    "usage: medvault department add NAME [--description TEXT] [--json]\n\nCreates or describes a department (admins).\n" CLI_COMMON_HELP;

static int dept_list(int argc, char **argv)
{
    static const wf_col cols[] = {{"NAME", "name", COL_STR},
                                  {"DOCTORS", "doctors", COL_STR},
                                  {"PATIENTS", "patients", COL_STR},
                                  {"DESCRIPTION", "description", COL_STR}};
    wf_opts o;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, dept_list_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, dept_list_usage)) >= 0)
        return r;
    if ((r = wf_simple(&o, "GET", "/v1/departments", NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "departments"), cols, 4);
    mv_json_free(root);
    return r;
}

static int dept_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"description", 0}};
    wf_opts o;
    mv_buf body;
    int r = wf_parse(argc, argv, dept_add_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, dept_add_usage)) >= 0)
        return r;
    mv_buf_init(&body, 8192);
    if (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "name", argv[optind]) != MV_OK ||
        jb_str(&body, "description", o.v[0]) != MV_OK || mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", "/v1/departments", &body, NULL)) == CLI_OK && !o.c.json)
        printf("department %s saved\n", argv[optind]);
    mv_buf_clear(&body);
    return r;
}

int cmd_department(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"list", dept_list, "list departments with their numbers of doctors and patients"},
        {"add", dept_add, "create or describe a department (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault department", table, argc, argv);
}

/* ---------- user status / show (the rest of `medvault user` is in cmd_records.c) ---------- */

static const char user_status_usage[] =
    "usage: medvault user status KEY active|suspended|revoked [--json]\n\n"
    "As an admin: changes a user's status. Suspending or revoking stops every credential of\n"
    "theirs at every service within one revocation polling interval; revoked is final.\n" CLI_COMMON_HELP;
static const char user_show_usage[] = "usage: medvault user show KEY [--json]\n" CLI_COMMON_HELP;

int cli_user_status(int argc, char **argv)
{
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, user_status_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 2, user_status_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s/status", argv[optind]);
    mv_buf_init(&body, 256);
    if (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "status", argv[optind + 1]) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        print_fields(root, user_cols, N_USER_COLS);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

int cli_user_show(int argc, char **argv)
{
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, user_show_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, user_show_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        print_fields(root, user_cols, N_USER_COLS);
    mv_json_free(root);
    return r;
}

static const char user_register_usage[] =
    "usage: medvault user register --name NAME --out DIR [--email E] [--phone P] [--json]\n\n"
    "A patient registers themself (the hospital's kiosk): creates fresh keys in DIR and sends\n"
    "the public keys and name, signed with the new key, to the hospital. The registration is\n"
    "pending (it gets an MRN) until an admin activates it (`medvault user status KEY active`);\n"
    "the first command run with --user DIR after that fetches the user's credential.\n"
    "  --deployment F   the deployment file (default $MEDVAULT_DEPLOYMENT)\n";

int cli_user_register(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"out", 1}, {"email", 2}, {"phone", 3}};
    wf_opts o;
    mv_deployment dep;
    mv_identity *id = NULL;
    mv_httpc_call call;
    mv_buf body, msg;
    mv_json *root = NULL;
    char shex[65], bhex[65], sig_hex[129], url[sizeof dep.hospital_url + 16];
    uint8_t sig[64];
    int r = wf_parse(argc, argv, user_register_usage, own, 4, &o, 0);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, user_register_usage)) >= 0)
        return r;
    if (!o.c.deployment || !o.v[0] || !o.v[1]) {
        cli_err("--deployment, --name and --out are required");
        return cli_usage(user_register_usage, 0);
    }
    if (mv_httpc_global_init() != MV_OK)
        return CLI_FAIL;
    if (mv_deployment_load(o.c.deployment, &dep) != MV_OK || !dep.hospital_url[0]) {
        cli_err("%s: cannot load the deployment file, or it names no hospital", o.c.deployment);
        return CLI_FAIL;
    }
    mv_err rc = mv_identity_create(o.v[1], &id);
    if (rc == MV_OK && (rc = mv_identity_pin_hospital(o.v[1], dep.hospital_pk)) != MV_OK)
        mv_identity_free(id);
    if (rc != MV_OK) {
        cli_err("%s: %s", o.v[1], rc == MV_ERR_EXISTS ? "already holds keys" : mv_strerror(rc));
        return CLI_FAIL;
    }
    mv_buf_init(&body, 8192);
    mv_buf_init(&msg, 4096);
    mv_httpc_call_init(&call);
    r = CLI_FAIL;
    if (mv_hex_encode(shex, sizeof shex, mv_identity_sign_pk(id), 32) != MV_OK ||
        mv_hex_encode(bhex, sizeof bhex, mv_identity_box_pk(id), 32) != MV_OK ||
        mv_buf_printf(&msg, "medvault-register-v1\n%s\n%s\n%s", o.v[0], shex, bhex) != MV_OK ||
        mv_sign(sig, msg.ptr, msg.len, mv_identity_sign_sk(id)) != MV_OK ||
        mv_hex_encode(sig_hex, sizeof sig_hex, sig, 64) != MV_OK || mv_buf_puts(&body, "{") != MV_OK ||
        jb_str(&body, "name", o.v[0]) != MV_OK || jb_str(&body, "sign_public_key", shex) != MV_OK ||
        jb_str(&body, "box_public_key", bhex) != MV_OK || jb_str(&body, "email", o.v[2]) != MV_OK ||
        jb_str(&body, "phone", o.v[3]) != MV_OK || jb_str(&body, "signature", sig_hex) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        cli_err("cannot build the registration");
        goto out;
    }
    snprintf(url, sizeof url, "%s/v1/register", dep.hospital_url);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    call.body = body.ptr;
    call.body_len = body.len;
    if (mv_httpc_run(&call, 1) != MV_OK || call.rc != MV_OK) {
        cli_err("no answer from the hospital at %s", dep.hospital_url);
        goto out;
    }
    (void)!mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, &root, NULL);
    if (call.status != 202 && call.status != 201) {
        const char *e = mv_json_get_str(root, "error", NULL);
        cli_err("the hospital answered %ld: %s", call.status, e ? e : "(no message)");
        goto out;
    }
    const char *mrn = mv_json_get_str(root, "mrn", NULL);
    if (o.c.json) {
        mv_buf out;
        mv_buf_init(&out, 4096);
        if (mv_buf_puts(&out, "{") == MV_OK && jb_str(&out, "status", "pending") == MV_OK &&
            jb_str(&out, "mrn", mrn) == MV_OK && jb_str(&out, "sign_public_key", shex) == MV_OK &&
            jb_str(&out, "dir", o.v[1]) == MV_OK && mv_buf_puts(&out, "}\n") == MV_OK)
            (void)!cli_print_buf(&out);
        mv_buf_clear(&out);
    } else {
        printf("registration pending as %s (key %s); an admin activates it with\n"
               "  medvault user status %s active\n",
               mrn ? mrn : "a patient", shex, shex);
    }
    r = CLI_OK;
out:
    mv_json_free(root);
    mv_httpc_call_clear(&call);
    mv_buf_clear(&body);
    mv_buf_clear(&msg);
    mv_identity_free(id);
    return r;
}

/* ---------- alerts ---------- */

static const char alerts_usage[] =
    "usage: medvault alerts [--limit N] [--json]\n"
    "       medvault alerts report --identity DIR --hospital-url URL --kind KIND --reason TEXT\n"
    "                              [--principal HEX] [--address IP] [--object TEXT] [--source decoy]\n"
    "                              [--count N]\n\n"
    "The hospital's alert log (admins): each alert with how many times it was seen (COUNT, repeats\n"
    "within the hospital's alert window), when last, and whether the webhook has taken it.\n"
    "`report` sends one alert as a service would (POST /v1/alerts, signed with the service\n"
    "identity in DIR, whose credential role must be storage or keyserver): for testing the\n"
    "pipeline. KIND is decoy_served, honeytoken, stepup_failed or credential_misuse.\n" CLI_COMMON_HELP;

static int alerts_report(int argc, char **argv)
{
    static const wf_opt own[] = {{"identity", 0}, {"hospital-url", 1}, {"kind", 2},   {"reason", 3}, {"principal", 4},
                                 {"address", 5},  {"object", 6},       {"source", 7}, {"count", 8}};
    wf_opts o;
    mv_identity *id = NULL;
    mv_httpc_call call;
    mv_buf body;
    mv_alert a;
    uint64_t count = 1;
    uint8_t pk[32];
    char url[1100];
    int r = wf_parse(argc, argv, alerts_usage, own, 9, &o, 0);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, alerts_usage)) >= 0)
        return r;
    if (!o.v[0] || !o.v[1] || !o.v[2] || !o.v[3]) {
        cli_err("--identity, --hospital-url, --kind and --reason are required");
        return CLI_USAGE;
    }
    if (!mv_alert_kind_ok(o.v[2])) {
        cli_err("--kind must be decoy_served, honeytoken, stepup_failed or credential_misuse");
        return CLI_USAGE;
    }
    if (o.v[4] && cli_hex_arg(o.v[4], pk, 32, "--principal") != 0)
        return CLI_USAGE;
    if (o.v[8] && cli_u64_arg(o.v[8], 1, MV_ALERT_COUNT_MAX, &count, "--count"))
        return CLI_USAGE;
    if (snprintf(url, sizeof url, "%s/v1/alerts", o.v[1]) >= (int)sizeof url ||
        (strncmp(o.v[1], "http://", 7) != 0 && strncmp(o.v[1], "https://", 8) != 0)) {
        cli_err("--hospital-url must be an http(s) URL");
        return CLI_USAGE;
    }
    if (mv_httpc_global_init() != MV_OK)
        return CLI_FAIL;
    mv_err rc = mv_identity_load(o.v[0], &id);
    if (rc != MV_OK || !mv_identity_credential(id)) {
        cli_err("%s: cannot load a service identity with a credential (%s)", o.v[0], mv_strerror(rc));
        mv_identity_free(id);
        return CLI_FAIL;
    }
    mv_alert_fill(&a, (uint64_t)time(NULL), o.v[7], o.v[2], o.v[4] ? pk : NULL, o.v[5], o.v[6], o.v[3]);
    mv_buf_init(&body, MV_ALERT_BODY_MAX);
    mv_httpc_call_init(&call);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    r = CLI_FAIL;
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    if (mv_alert_to_json(&a, count, &body) != MV_OK)
        goto out;
    call.body = body.ptr;
    call.body_len = body.len;
    if ((rc = mv_httpc_sign(&call, mv_identity_sign_pk(id), mv_identity_sign_sk(id), mv_identity_credential(id),
                            (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_httpc_run(&call, 1)) != MV_OK || (rc = call.rc) != MV_OK) {
        cli_err("no answer from the hospital at %s (%s)", o.v[1], mv_strerror(rc));
        goto out;
    }
    if (call.status != 200) {
        mv_json *e = NULL;
        (void)!mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, &e, NULL);
        const char *msg = mv_json_get_str(e, "error", NULL);
        cli_err("the hospital answered %ld: %s", call.status, msg ? msg : "(no message)");
        mv_json_free(e);
        goto out;
    }
    if (o.c.json)
        (void)!cli_print_buf(&call.response), (void)!puts("");
    else
        printf("alert accepted\n");
    r = CLI_OK;
out:
    mv_httpc_call_clear(&call);
    mv_buf_clear(&body);
    mv_identity_free(id);
    return r;
}

int cmd_alerts(int argc, char **argv)
{
    static const wf_opt own[] = {{"limit", 0}};
    static const wf_col cols[] = {{"WHEN", "at", COL_TIME},          {"SOURCE", "source", COL_STR},
                                  {"KIND", "kind", COL_STR},         {"WHO", "principal", COL_KEY},
                                  {"FROM", "address", COL_STR},      {"OBJECT", "object", COL_STR},
                                  {"WHY", "reason", COL_STR},        {"COUNT", "count", COL_STR},
                                  {"LAST", "last_at", COL_TIME},     {"DELIVERED", "delivered", COL_STR}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    if (argc > 1 && !strcmp(argv[1], "report"))
        return alerts_report(argc - 1, argv + 1);
    int r = wf_parse(argc, argv, alerts_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, alerts_usage)) >= 0)
        return r;
    mv_buf_init(&path, 256);
    if (mv_buf_puts(&path, "/v1/alerts") != MV_OK || qs_add(&path, "limit", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", buf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "alerts"), cols, sizeof cols / sizeof cols[0]);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

/* ---------- device keys (`medvault user device`) ---------- */

static const char device_add_usage[] =
    "usage: medvault user device add KEY (--device-key DIR | --device-pk HEX) [--name NAME] [--json]\n\n"
    "As an admin: registers a device key for the user KEY (64 hex digits); a signature by it is\n"
    "a step-up proof (`medvault stepup --device-key DIR`). Make a device key directory with\n"
    "`medvault keygen --out DIR`; only its public key is sent.\n" CLI_COMMON_HELP;
static const char device_list_usage[] = "usage: medvault user device list KEY [--json]\n" CLI_COMMON_HELP;

static int device_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"device-key", 0}, {"device-pk", 1}, {"name", 2}};
    wf_opts o;
    uint8_t key[32], dev[32];
    char path[128], dev_hex[65];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, device_add_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, device_add_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    if (!o.v[0] == !o.v[1]) {
        cli_err("give exactly one of --device-key DIR and --device-pk HEX");
        return CLI_USAGE;
    }
    if (o.v[1]) {
        if (cli_hex_arg(o.v[1], dev, 32, "--device-pk") != 0)
            return CLI_USAGE;
    } else {
        mv_identity *d = NULL;
        mv_err rc = mv_identity_load(o.v[0], &d);
        if (rc != MV_OK) {
            cli_err("%s: cannot load the device key (%s)", o.v[0], mv_strerror(rc));
            return CLI_FAIL;
        }
        memcpy(dev, mv_identity_sign_pk(d), 32);
        mv_identity_free(d);
    }
    if (mv_hex_encode(dev_hex, sizeof dev_hex, dev, 32) != MV_OK)
        return CLI_FAIL;
    snprintf(path, sizeof path, "/v1/users/%s/devices", argv[optind]);
    mv_buf_init(&body, 1024);
    if (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "device_pk", dev_hex) != MV_OK ||
        jb_str(&body, "name", o.v[2]) != MV_OK || mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        printf("device %s registered for user %.16s...\n", dev_hex, argv[optind]);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static int device_list(int argc, char **argv)
{
    static const wf_col cols[] = {{"DEVICE", "device_pk", COL_STR}, {"NAME", "name", COL_STR},
                                  {"ADDED", "added_at", COL_TIME}};
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, device_list_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, device_list_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s/devices", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        print_table(mv_json_get(root, "devices"), cols, 3);
    mv_json_free(root);
    return r;
}

int cli_user_device(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"add", device_add, "register a step-up device key for a user (admins)"},
        {"list", device_list, "list a user's device keys (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault user device", table, argc, argv);
}

/* ---------- step-up ---------- */

static const char stepup_usage[] =
    "usage: medvault stepup --device-key DIR [--json]\n"
    "       medvault stepup --request [--wait] [--json]\n"
    "       medvault stepup approve|deny ID [--json]\n\n"
    "Steps up after the storage server asked for it (docs/stepup.md): with a device key an\n"
    "admin registered for the user (`medvault user device add`), or by asking an admin to\n"
    "approve (--request; --wait polls until decided). The grant is kept in the user directory\n"
    "(stepup.grant) and sent with storage requests until it expires. approve/deny: an admin\n"
    "decides request ID.\n" CLI_COMMON_HELP;

static int stepup_decide(int argc, char **argv, const char *decision)
{
    wf_opts o;
    uint64_t id = 0;
    char path[64];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, stepup_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 1, stepup_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, INT64_MAX, &id, "ID"))
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/stepup/%llu", (unsigned long long)id);
    mv_buf_init(&body, 128);
    if (mv_buf_puts(&body, "{") != MV_OK || jb_str(&body, "decision", decision) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_FAIL;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        printf("step-up request %llu %s\n", (unsigned long long)id, !strcmp(decision, "approve") ? "approved" : "denied");
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static void stepup_print(const wf_opts *o, const char *status, int64_t request, uint64_t expires)
{
    char t[32];
    if (o->c.json) {
        printf("{\"status\":\"%s\"", status);
        if (request)
            printf(",\"request\":%lld", (long long)request);
        if (expires)
            printf(",\"expires\":%llu", (unsigned long long)expires);
        printf("}\n");
    } else if (expires) {
        fmt_time(expires, t);
        printf("stepped up: storage requests carry the grant until %s\n", t);
    } else {
        printf("step-up request %lld awaits an admin: `medvault stepup approve %lld`\n", (long long)request,
               (long long)request);
    }
}

int cmd_stepup(int argc, char **argv)
{
    static const wf_opt own[] = {{"device-key", 0}};
    wf_opts o;
    int request = 0, wait = 0;
    char *args[64];
    int n = 0;
    if (argc > 1 && (!strcmp(argv[1], "approve") || !strcmp(argv[1], "deny")))
        return stepup_decide(argc - 1, argv + 1, !strcmp(argv[1], "approve") ? "approve" : "deny");
    /* --request and --wait are flags; wf_parse knows only options with a value. */
    for (int i = 0; i < argc && n < 63; i++) {
        if (i > 0 && !strcmp(argv[i], "--request"))
            request = 1;
        else if (i > 0 && !strcmp(argv[i], "--wait"))
            wait = 1;
        else
            args[n++] = argv[i];
    }
    args[n] = NULL;
    int r = wf_parse(n, args, stepup_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(n, optind, 0, stepup_usage)) >= 0)
        return r;
    if (!o.v[0] == !request || (wait && !request)) {
        cli_err("give --device-key DIR, or --request [--wait]");
        return CLI_USAGE;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "hospital");
    if (!cl)
        return CLI_FAIL;
    uint64_t expires = 0;
    int64_t id = 0;
    mv_err rc;
    r = CLI_FAIL;
    if (o.v[0]) {
        if ((rc = mv_client_stepup_device(cl, o.v[0], &expires)) != MV_OK) {
            cli_err("step-up failed: %s", mv_client_last_error(cl));
            goto out;
        }
        stepup_print(&o, "approved", 0, expires);
        r = CLI_OK;
        goto out;
    }
    if ((rc = mv_client_stepup_request(cl, &id)) != MV_OK) {
        cli_err("step-up request failed: %s", mv_client_last_error(cl));
        goto out;
    }
    for (unsigned waited = 0;; waited++) {
        int approved = 0;
        if ((rc = mv_client_stepup_poll(cl, id, &approved, &expires)) != MV_OK) {
            cli_err("step-up request %lld: %s", (long long)id, mv_client_last_error(cl));
            goto out;
        }
        if (approved) {
            stepup_print(&o, "approved", id, expires);
            break;
        }
        if (!wait) {
            stepup_print(&o, "pending", id, 0);
            break;
        }
        if (waited == 0 && !o.c.json)
            fprintf(stderr, "waiting for an admin: `medvault stepup approve %lld` ...\n", (long long)id);
        sleep(1);
    }
    r = CLI_OK;
out:
    mv_client_close(cl);
    return r;
}

/* ---------- dashboard ---------- */

static const char dashboard_usage[] =
    "usage: medvault dashboard [--json]\n"
    "       medvault dashboard --sign CHALLENGE\n\n"
    "As an admin: prints a one-time URL (valid 2 minutes) that logs a browser into the hospital's\n"
    "admin dashboard. With --sign, prints the answer to the challenge shown on the dashboard's\n"
    "login page instead (paste the key and signature there).\n" CLI_COMMON_HELP;

#define DASH_DOMAIN "medvault-dashboard-login-v1\n"

int cmd_dashboard(int argc, char **argv)
{
    static const wf_opt own[] = {{"sign", 0}};
    wf_opts o;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, dashboard_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = expect_args(argc, optind, 0, dashboard_usage)) >= 0)
        return r;
    if (o.v[0]) {
        mv_identity *id = NULL;
        uint8_t sig[64], msg[sizeof DASH_DOMAIN + 256];
        char khex[65], shex[129];
        size_t cl = strlen(o.v[0]);
        if (cl > 256 || !mv_is_lower_hex(o.v[0], cl)) {
            cli_err("the challenge is the hex text shown on the login page");
            return CLI_USAGE;
        }
        if (mv_identity_load(o.c.user, &id) != MV_OK) {
            cli_err("%s: cannot load the user's keys", o.c.user);
            return CLI_FAIL;
        }
        memcpy(msg, DASH_DOMAIN, sizeof DASH_DOMAIN - 1);
        memcpy(msg + sizeof DASH_DOMAIN - 1, o.v[0], cl);
        mv_err rc = mv_sign(sig, msg, sizeof DASH_DOMAIN - 1 + cl, mv_identity_sign_sk(id));
        if (rc == MV_OK)
            rc = mv_hex_encode(khex, sizeof khex, mv_identity_sign_pk(id), 32);
        if (rc == MV_OK)
            rc = mv_hex_encode(shex, sizeof shex, sig, 64);
        mv_identity_free(id);
        if (rc != MV_OK) {
            cli_err("cannot sign: %s", mv_strerror(rc));
            return CLI_FAIL;
        }
        if (o.c.json)
            printf("{\"key\":\"%s\",\"signature\":\"%s\"}\n", khex, shex);
        else
            printf("key        %s\nsignature  %s\n", khex, shex);
        return CLI_OK;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "dashboard");
    if (!cl)
        return CLI_FAIL;
    wf_opts quiet = o;
    quiet.c.json = 0;
    if ((r = wf_call(cl, &quiet, "POST", "/v1/sessions", NULL, &root)) == CLI_OK) {
        const char *u = mv_json_get_str(root, "login_url", NULL);
        mv_buf url;
        mv_buf_init(&url, 4096);
        /* The hospital answers with a path; the deployment knows where the hospital is. */
        if (!u || mv_client_hospital_url(cl, &url) != MV_OK || mv_buf_puts(&url, u) != MV_OK) {
            cli_err("the hospital's answer has no login_url");
            r = CLI_FAIL;
        } else if (o.c.json) {
            printf("{\"url\":\"%s\"}\n", buf_cstr(&url));
        } else {
            printf("%s\n", buf_cstr(&url));
        }
        mv_buf_clear(&url);
    }
    mv_json_free(root);
    mv_client_close(cl);
    return r;
}
