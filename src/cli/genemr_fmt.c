/* genemr_fmt.c - gen-emr's identifiers, calendar arithmetic and pretty JSON writer (genemr.h).
 * Everything is drawn from or computed on synthetic data; nothing here is patient data. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "genemr.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

void make_uuid(gen_rng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t a = gen_next(r), c = gen_next(r);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(a >> (8 * i));
        b[8 + i] = (uint8_t)(c >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 (RFC 9562 section 5.4) */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* Days since 1970-01-01 from a proleptic Gregorian date (H. Hinnant's days_from_civil). */
long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long)yoe + era * 400 + (*m <= 2);
}

void fmt_date(char out[16], long days)
{
    long y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 16, "%04u-%02u-%02u", (unsigned)((unsigned long)y % 10000), m % 100, d % 100);
}

/* FHIR dateTime / instant in UTC; ms < 1000 adds milliseconds, otherwise none. */
void fmt_time(char out[40], long secs, unsigned ms)
{
    char date[16];
    unsigned rem = (unsigned)(secs % 86400);
    fmt_date(date, secs / 86400);
    if (ms < 1000)
        snprintf(out, 40, "%sT%02u:%02u:%02u.%03uZ", date, rem / 3600, rem / 60 % 60, rem % 60, ms);
    else
        snprintf(out, 40, "%sT%02u:%02u:%02uZ", date, rem / 3600, rem / 60 % 60, rem % 60);
}

/* A decimal from tenths: "2", "0.5", "2.5" (FHIR decimals keep their lexeme). */
void fmt_tenths(char out[24], unsigned long v)
{
    if (v % 10)
        snprintf(out, 24, "%lu.%lu", v / 10, v % 10);
    else
        snprintf(out, 24, "%lu", v / 10);
}

/* ---- pretty JSON writer (2-space indentation, "key": value, as typical exporters) -------- */

void jw_init(jw *w, mv_buf *b)
{
    w->b = b;
    w->depth = 0;
    w->first = 1;
    w->rc = MV_OK;
}

void jw_put(jw *w, const char *s, size_t n)
{
    if (w->rc == MV_OK)
        w->rc = mv_buf_append(w->b, s, n);
}

static void jw_quoted(jw *w, const char *s)
{
    if (w->rc == MV_OK)
        w->rc = mv_json_write_str(w->b, s, strlen(s));
}

static void jw_newline(jw *w)
{
    static const char spaces[] = "                                                                ";
    size_t n = (size_t)w->depth * 2;
    jw_put(w, "\n", 1);
    jw_put(w, spaces, n < sizeof spaces - 1 ? n : sizeof spaces - 1);
}

static void jw_item(jw *w, const char *key)
{
    if (!w->first)
        jw_put(w, ",", 1);
    if (w->depth > 0)
        jw_newline(w);
    w->first = 0;
    if (key) {
        jw_quoted(w, key);
        jw_put(w, ": ", 2);
    }
}

void jw_open(jw *w, const char *key, char c)
{
    jw_item(w, key);
    jw_put(w, &c, 1);
    w->depth++;
    w->first = 1;
}

void jw_close(jw *w, char c)
{
    w->depth--;
    if (!w->first)
        jw_newline(w);
    jw_put(w, &c, 1);
    w->first = 0;
}

void jw_str(jw *w, const char *key, const char *v)
{
    jw_item(w, key);
    jw_quoted(w, v);
}

void jw_raw(jw *w, const char *key, const char *lexeme)
{
    jw_item(w, key);
    jw_put(w, lexeme, strlen(lexeme));
}

void jw_uint(jw *w, const char *key, unsigned long long v)
{
    char t[24];
    snprintf(t, sizeof t, "%llu", v);
    jw_raw(w, key, t);
}

void jw_coding(jw *w, const char *system, const char *code, const char *display)
{
    jw_open(w, NULL, '{');
    jw_str(w, "system", system);
    jw_str(w, "code", code);
    if (display)
        jw_str(w, "display", display);
    jw_close(w, '}');
}

void jw_quantity(jw *w, const char *key, const char *value, const char *unit, const char *code)
{
    jw_open(w, key, '{');
    jw_raw(w, "value", value);
    jw_str(w, "unit", unit);
    jw_str(w, "system", "http://unitsofmeasure.org");
    jw_str(w, "code", code);
    jw_close(w, '}');
}

void jw_days(jw *w, const char *key, unsigned days)
{
    char t[24];
    snprintf(t, sizeof t, "%u", days);
    jw_quantity(w, key, t, "days", "d");
}
