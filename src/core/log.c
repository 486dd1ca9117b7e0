/* log.c - one-line, one-write log records on stderr; callers never pass patient data. */
#include "medvault/mv_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = -1; /* -1: not yet read from the environment */

int mv_log_parse_level(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "debug")) return MV_LOG_DEBUG;
    if (!strcmp(s, "info")) return MV_LOG_INFO;
    if (!strcmp(s, "warn")) return MV_LOG_WARN;
    if (!strcmp(s, "error")) return MV_LOG_ERROR;
    return -1;
}

void mv_log_set_level(mv_log_level lvl) { log_level = (int)lvl; }

static int current_level(void)
{
    if (log_level < 0) {
        int l = mv_log_parse_level(getenv("MV_LOG"));
        log_level = l < 0 ? MV_LOG_INFO : l;
    }
    return log_level;
}

void mv_log(mv_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if ((int)lvl < current_level())
        return;
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, "%s %s: ", names[lvl & 3], component);
    va_list ap;
    va_start(ap, fmt);
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
