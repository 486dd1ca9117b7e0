/* workflow.c - what the hospital workflow commands share (workflow.h): their option parsing,
 * the JSON bodies and query strings they send, one signed call to the hospital's JSON API
 * (docs/api.md) with --json printing the service's answer unchanged, and the tables they print.
 * Nothing here sees record content. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_http.h"

#define RESP_MAX ((size_t)64 << 20)

/* Parses --deployment, --user, --json, --help and the command's own options (each takes one
 * argument). Positional arguments stay in argv[optind..argc). Returns -1 to go on, else the
 * exit code. */
int wf_parse(int argc, char **argv, const char *usage, const wf_opt *own, size_t n_own, wf_opts *o,
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
mv_err wf_json_str(mv_buf *b, const char *name, const char *value)
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

mv_err wf_json_u64(mv_buf *b, const char *name, uint64_t v)
{
    mv_err rc = b->len > 1 ? mv_buf_puts(b, ",") : MV_OK;
    if (rc == MV_OK)
        rc = mv_json_write_str(b, name, strlen(name));
    if (rc == MV_OK)
        rc = mv_buf_printf(b, ":%llu", (unsigned long long)v);
    return rc;
}

/* One encoder for every URL we build: the UI's links use it too. */
mv_err wf_query_add(mv_buf *b, const char *name, const char *value)
{
    return mv_http_query_add(b, name, value);
}

/* NUL-terminates b (without counting the NUL) so it can be used as a C string. */
const char *wf_cstr(mv_buf *b)
{
    if (mv_buf_reserve(b, 1) != MV_OK)
        return "";
    b->ptr[b->len] = 0;
    return (const char *)b->ptr;
}

/* One call to the hospital. On success (2xx) returns CLI_OK with the answer parsed into *root
 * (if root is not NULL) and printed as is under --json; on failure prints the service's
 * error and returns CLI_FAIL. */
int wf_call(mv_client *cl, const wf_opts *o, const char *method, const char *path, mv_buf *body,
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
int wf_simple(const wf_opts *o, const char *method, const char *path, mv_buf *body, mv_json **root)
{
    mv_client *cl = cli_open_client(&o->c, NULL, "hospital");
    if (!cl)
        return CLI_FAIL;
    int r = wf_call(cl, o, method, path, body, root);
    mv_client_close(cl);
    return r;
}

/* Unix seconds from "1700000000" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC). */
int wf_time_arg(const char *s, uint64_t *out)
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

void wf_fmt_time(uint64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!t || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, 32, "-");
}

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
            wf_fmt_time(n, t);
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
void wf_print_table(const mv_json *arr, const wf_col *cols, size_t nc)
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
void wf_print_fields(const mv_json *obj, const wf_col *cols, size_t nc)
{
    char buf[256];
    for (size_t c = 0; c < nc; c++) {
        cell(json_path(obj, cols[c].path), cols[c].kind, buf, sizeof buf);
        printf("%-12s %s\n", cols[c].header, buf);
    }
}

int wf_expect_args(int argc, int optind_now, int n, const char *usage)
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

const wf_col wf_user_cols[6] = {
    {"NAME", "name", COL_STR},     {"ROLE", "role", COL_STR},   {"DEPARTMENTS", "departments", COL_LIST},
    {"STATUS", "status", COL_STR}, {"MRN", "mrn", COL_STR},     {"KEY", "sign_public_key", COL_STR},
};
