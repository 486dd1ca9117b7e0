/* cli.c - argument helpers and subcommand dispatch for the medvault binary. */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_revocation_poller.h"

/* The progress line on stderr (a terminal): whether one is shown, so that it is erased
 * ("\r" and erase-line, ECMA-48 EL) before any other line is written and at the end, never
 * left with a result line run into it. Progress and errors come from several threads (the
 * client's upload and decrypt workers), hence the lock. */
static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;
static int progress_shown;
#define ERASE_LINE "\r\033[K"

static void progress_erase_locked(void)
{
    if (progress_shown) {
        fputs(ERASE_LINE, stderr);
        fflush(stderr);
        progress_shown = 0;
    }
}

void cli_progress_clear(void)
{
    pthread_mutex_lock(&progress_mu);
    progress_erase_locked();
    pthread_mutex_unlock(&progress_mu);
}

/* Shows one progress line (format and arguments as printf) in place of the last, or erases
 * it with last set (the work is done: the result lines follow). */
static void progress_show(int last, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress_show(int last, const char *fmt, ...)
{
    va_list ap;
    if (!cli_progress_allowed())
        return;
    pthread_mutex_lock(&progress_mu);
    if (last) {
        progress_erase_locked();
    } else {
        fputs(ERASE_LINE, stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fflush(stderr);
        progress_shown = 1;
    }
    pthread_mutex_unlock(&progress_mu);
}

void cli_out(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&progress_mu);
    progress_erase_locked();
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_unlock(&progress_mu);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&progress_mu);
    progress_erase_locked();
    fputs("medvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&progress_mu);
}

int cli_usage(const char *text, int asked)
{
    fputs(text, asked ? stdout : stderr);
    return asked ? CLI_OK : CLI_USAGE;
}

/* `help CMD [SUB]...` runs as `CMD [SUB]... --help`, and `CMD -h` as `CMD --help`, so that
 * the three spellings print the same help for every command, whichever parser it uses. */
static char help_flag[] = "--help"; /* argv entries are char *, and this one is never written */

static int dispatch_help(const char *group, const cli_cmd *table, int argc, char **argv)
{
    char *args[16];
    int n = 0;
    if (argc >= (int)(sizeof args / sizeof *args)) {
        cli_err("too many words after 'help'");
        return CLI_USAGE;
    }
    args[n++] = argv[0];
    for (int i = 2; i < argc; i++)
        args[n++] = argv[i];
    args[n++] = help_flag;
    args[n] = NULL;
    return cli_dispatch(group, table, n, args);
}

int cli_dispatch(const char *group, const cli_cmd *table, int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "help"))
        return dispatch_help(group, table, argc, argv);
    int asked = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"));
    if (argc >= 2 && !asked) {
        for (const cli_cmd *c = table; c->name; c++)
            if (!strcmp(c->name, argv[1])) {
                /* Only right after the command: later, "-h" may be an option's value. */
                if (argc >= 3 && !strcmp(argv[2], "-h"))
                    argv[2] = help_flag;
                return c->fn(argc - 1, argv + 1);
            }
        cli_err("unknown command '%s %s' (see '%s --help')", group, argv[1], group);
        return CLI_USAGE;
    }
    FILE *out = asked ? stdout : stderr;
    fprintf(out, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", group);
    for (const cli_cmd *c = table; c->name; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
    fprintf(out, "\nRun '%s COMMAND --help' for a command's options.\n", group);
    return asked ? CLI_OK : CLI_USAGE;
}

int cli_hex_arg(const char *arg, uint8_t *out, size_t n, const char *what)
{
    if (!arg || mv_hex_decode_exact(out, n, arg, strlen(arg)) != MV_OK) {
        cli_err("%s must be %zu bytes of hex (%zu hex digits)", what, n, n * 2);
        return -1;
    }
    return 0;
}

int cli_u64_arg(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char *what)
{
    char *end = NULL;
    if (!arg || !*arg || *arg == '-') {
        cli_err("%s must be a number between %llu and %llu", what, (unsigned long long)min,
                (unsigned long long)max);
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || v < min || v > max) {
        cli_err("%s must be a number between %llu and %llu", what, (unsigned long long)min,
                (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse(int argc, char **argv, const cli_opt *table, const char *usage)
{
    struct option opts[CLI_OPTS_MAX + 1];
    size_t n = 0;
    int c;
    /* The getopt table keeps the order of the command's table, so that abbreviations and
     * getopt's messages about them stay as they were. */
    for (; table[n].name; n++) {
        if (n == CLI_OPTS_MAX) {
            cli_err("internal error: too many options");
            return CLI_FAIL;
        }
        opts[n] = (struct option){table[n].name, table[n].value ? required_argument : no_argument, NULL, (int)n};
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c < 0 || (size_t)c >= n)
            return cli_usage(usage, 0);
        if (table[c].value)
            *table[c].value = optarg;
        else if (table[c].flag)
            *table[c].flag = 1;
        else
            return cli_usage(usage, 1);
    }
    for (size_t i = 0; i < n; i++)
        if (table[i].required && table[i].value && !*table[i].value)
            return cli_usage(usage, 0);
    if (optind != argc)
        return cli_usage(usage, 0);
    return -1;
}

int cli_threads_arg(const char *arg, unsigned *out)
{
    uint64_t v = 0;
    if (cli_u64_arg(arg, 1, 256, &v, "--threads"))
        return -1;
    *out = (unsigned)v;
    return 0;
}

int cli_print_buf(const mv_buf *b)
{
    if (b->len && fwrite(b->ptr, 1, b->len, stdout) != b->len)
        return CLI_FAIL;
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

int cli_print_content(const uint8_t *p, size_t len)
{
    if (len && fwrite(p, 1, len, stdout) != len)
        return CLI_FAIL;
    if (isatty(STDOUT_FILENO) && len && p[len - 1] != '\n' && putchar('\n') == EOF)
        return CLI_FAIL;
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

void cli_json_begin(mv_jw *w, mv_buf *b)
{
    mv_buf_init(b, 1u << 16);
    mv_jw_init(w, b);
    mv_jw_obj(w);
}

int cli_json_end(mv_jw *w, mv_buf *b)
{
    mv_jw_obj_end(w);
    int ret = mv_jw_finish(w) == MV_OK && mv_buf_puts(b, "\n") == MV_OK ? cli_print_buf(b) : CLI_FAIL;
    mv_buf_clear(b);
    return ret;
}

int cli_progress_allowed(void)
{
    const char *ci = getenv("CI");
    return isatty(STDERR_FILENO) && !(ci && *ci && strcmp(ci, "false") != 0);
}

void cli_progress(const char *what, size_t done, size_t total)
{
    progress_show(done >= total, "%s: %zu/%zu", what, done, total);
}

void cli_common_init(cli_common *o)
{
    memset(o, 0, sizeof *o);
    o->deployment = getenv("MEDVAULT_DEPLOYMENT");
    o->user = getenv("MEDVAULT_USER");
}

int cli_common_check(const cli_common *o, const char *usage)
{
    if (!o->deployment || !o->user) {
        cli_err("--deployment and --user are required");
        return cli_usage(usage, 0);
    }
    return CLI_OK;
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    const char *what = ctx;
    progress_show(done >= total, "%s: %.1f / %.1f MiB", what, (double)done / 1048576.0, (double)total / 1048576.0);
}

mv_client *cli_open_client(const cli_common *o, const mv_client_options *extra, const char *what)
{
    mv_client *c = NULL;
    mv_client_options opt;
    if (extra)
        opt = *extra;
    else
        memset(&opt, 0, sizeof opt);
    opt.department = o->department;
    opt.no_cache = o->no_cache;
    opt.progress = progress_cb;
    opt.progress_ctx = (void *)what;
    char why[256];
    mv_err rc = mv_client_open_msg(o->deployment, o->user, &opt, &c, why, sizeof why);
    /* The library's description names the file at fault and what is wrong with it; a refusal
     * by the hospital (MV_ERR_AUTH) may not name the user directory, so it is added. */
    if (rc != MV_OK && why[0]) {
        if (rc == MV_ERR_AUTH && !strstr(why, o->user))
            cli_err("%s: %s", o->user, why);
        else
            cli_err("%s", why);
        return NULL;
    }
    switch (rc) {
    case MV_OK:
        return c;
    case MV_ERR_BAD_STATE:
        cli_err("%s: the deployment file names no hospital_url or storage_url (made by `medvault up`?)", o->deployment);
        break;
    case MV_ERR_AUTH:
        cli_err("%s: no valid credential in the user directory", o->user);
        break;
    case MV_ERR_FORBIDDEN:
        cli_err("the department is not one of the user's departments");
        break;
    case MV_ERR_NOT_FOUND:
        cli_err("cannot find the deployment file %s or the user's keys in %s", o->deployment, o->user);
        break;
    case MV_ERR_NOMEM: case MV_ERR_INVAL: case MV_ERR_TOO_LARGE: case MV_ERR_PARSE: case MV_ERR_IO:
    case MV_ERR_CRYPTO: case MV_ERR_BUSY: case MV_ERR_RATE_LIMITED: case MV_ERR_NET: case MV_ERR_TIMEOUT:
    case MV_ERR_IDENTITY: case MV_ERR_VERIFY: case MV_ERR_EXPIRED: case MV_ERR_REPLAY: case MV_ERR_EXISTS:
    case MV_ERR_PROTOCOL: case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP: case MV_ERR_MISDIRECTED:
        cli_err("cannot open the client: %s", mv_strerror(rc));
        break;
    }
    return NULL;
}

int cli_load_deployment(const char *path, const char *user_dir, mv_deployment *out)
{
    char why[512];
    if (mv_deployment_load_msg(path, user_dir, out, NULL, why, sizeof why) == MV_OK)
        return CLI_OK;
    cli_err("%s", why[0] ? why : "cannot load the deployment file");
    return CLI_FAIL;
}

int cli_revocation_args(const char *url, const char *poll, char *url_out, size_t cap, unsigned *poll_out)
{
    if (url) {
        if (!mv_revocation_url_ok(url) || strlen(url) >= cap) {
            cli_err("--hospital-url must be http(s)://HOST[:PORT] (no user, query or fragment)");
            return -1;
        }
        memcpy(url_out, url, strlen(url) + 1);
    }
    if (poll) {
        uint64_t v = 0;
        if (cli_u64_arg(poll, 1, MV_REVOCATION_MAX_INTERVAL, &v, "--revocation-poll"))
            return -1;
        *poll_out = (unsigned)v;
    }
    return 0;
}
