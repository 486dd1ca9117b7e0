/* cli.c - argument helpers and subcommand dispatch for the medvault binary. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_codec.h"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("medvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage(const char *text, int asked)
{
    fputs(text, asked ? stdout : stderr);
    return asked ? CLI_OK : CLI_USAGE;
}

int cli_dispatch(const char *group, const cli_cmd *table, int argc, char **argv)
{
    int asked = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"));
    if (argc >= 2 && !asked) {
        for (const cli_cmd *c = table; c->name; c++)
            if (!strcmp(c->name, argv[1]))
                return c->fn(argc - 1, argv + 1);
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

int cli_print_buf(const mv_buf *b)
{
    if (b->len && fwrite(b->ptr, 1, b->len, stdout) != b->len)
        return CLI_FAIL;
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

int cli_progress_allowed(void)
{
    const char *ci = getenv("CI");
    return isatty(STDERR_FILENO) && !(ci && *ci && strcmp(ci, "false") != 0);
}

void cli_progress(const char *what, size_t done, size_t total)
{
    if (!cli_progress_allowed())
        return;
    fprintf(stderr, "\r%s: %zu/%zu%s", what, done, total, done >= total ? "\n" : "");
    fflush(stderr);
}
