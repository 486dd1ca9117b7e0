/* metrics.c - a bounded Prometheus registry: its memory is capped and its output is always
 * well-formed exposition text, whatever names, labels and help strings callers pass. */
#include "medvault/mv_metrics.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "medvault/mv_mem.h"

typedef enum fam_type { FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM } fam_type;

static const double bucket_bounds[MV_METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                         0.1,    0.25,  0.5,    1,     2.5,  5,    10};
/* The le labels exactly as rendered (fixed text keeps the output byte-stable). */
static const char *const bucket_labels[MV_METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

typedef struct series {
    char *labels; /* "" for none */
    uint64_t counter;
    double gauge;
    uint64_t buckets[MV_METRICS_BUCKETS]; /* cumulative: observations <= bound */
    uint64_t count;
    double sum;
    struct series *next;
} series;

typedef struct family {
    char *name;
    char *help;
    fam_type type;
    series *first, *last;
    struct family *next;
} family;

struct mv_metrics {
    pthread_mutex_t lock;
    family *first, *last;
    size_t n_families, n_series;
};

mv_err mv_metrics_new(mv_metrics **out)
{
    mv_metrics *m;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!(m = mv_calloc(1, sizeof *m)))
        return MV_ERR_NOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        mv_free(m);
        return MV_ERR_NOMEM;
    }
    *out = m;
    return MV_OK;
}

static void series_free(series *s)
{
    while (s) {
        series *next = s->next;
        mv_free(s->labels);
        mv_free(s);
        s = next;
    }
}

void mv_metrics_free(mv_metrics *m)
{
    if (!m)
        return;
    for (family *f = m->first; f;) {
        family *next = f->next;
        series_free(f->first);
        mv_free(f->name);
        mv_free(f->help);
        mv_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    mv_free(m);
}

static int is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* MV_OK, MV_ERR_INVAL (syntax) or MV_ERR_TOO_LARGE (length). */
static mv_err check_name(const char *name)
{
    size_t n = 0;
    if (!name || !(is_alpha_(name[0]) || name[0] == ':'))
        return MV_ERR_INVAL;
    for (; name[n]; n++) {
        if (n >= MV_METRICS_MAX_NAME)
            return MV_ERR_TOO_LARGE;
        if (!is_alpha_(name[n]) && !is_digit(name[n]) && name[n] != ':')
            return MV_ERR_INVAL;
    }
    return MV_OK;
}

/* Validates a label set: name="value"(,name="value")*, values with only \\ \" \n escapes
 * and no control characters. For histograms the name "le" is reserved. */
static mv_err check_labels(const char *l, int histogram)
{
    size_t i = 0;
    if (strnlen(l, MV_METRICS_MAX_LABELS + 1) > MV_METRICS_MAX_LABELS)
        return MV_ERR_TOO_LARGE;
    if (!l[0])
        return MV_OK;
    for (;;) {
        size_t start = i;
        if (!is_alpha_(l[i]))
            return MV_ERR_INVAL;
        while (is_alpha_(l[i]) || is_digit(l[i]))
            i++;
        if ((l[start] == '_' && l[start + 1] == '_') || (histogram && i - start == 2 && l[start] == 'l' &&
                                                         l[start + 1] == 'e'))
            return MV_ERR_INVAL;
        if (l[i++] != '=' || l[i++] != '"')
            return MV_ERR_INVAL;
        for (;;) {
            unsigned char c = (unsigned char)l[i];
            if (c == '"')
                break;
            if (c < 0x20 || c == 0x7f) /* includes the terminating NUL: unterminated value */
                return MV_ERR_INVAL;
            if (c == '\\') {
                char e = l[i + 1];
                if (e != '\\' && e != '"' && e != 'n')
                    return MV_ERR_INVAL;
                i++;
            }
            i++;
        }
        i++; /* closing quote */
        if (!l[i])
            return MV_OK;
        if (l[i++] != ',')
            return MV_ERR_INVAL;
    }
}

/* Finds or creates the series (lock held). */
static mv_err lookup(mv_metrics *m, const char *name, const char *help, const char *labels, fam_type type,
                     series **out)
{
    family *f;
    series *s;
    mv_err rc;
    if (!m)
        return MV_ERR_INVAL;
    if (!labels)
        labels = "";
    if (!help)
        help = "";
    if ((rc = check_name(name)) != MV_OK || (rc = check_labels(labels, type == FAM_HISTOGRAM)) != MV_OK)
        return rc;
    if (strnlen(help, MV_METRICS_MAX_HELP + 1) > MV_METRICS_MAX_HELP)
        return MV_ERR_TOO_LARGE;
    for (f = m->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f && f->type != type)
        return MV_ERR_INVAL;
    if (f)
        for (s = f->first; s; s = s->next)
            if (strcmp(s->labels, labels) == 0) {
                *out = s;
                return MV_OK;
            }
    if (m->n_series >= MV_METRICS_MAX_SERIES || (!f && m->n_families >= MV_METRICS_MAX_FAMILIES))
        return MV_ERR_TOO_LARGE;
    if (!(s = mv_calloc(1, sizeof *s)) || !(s->labels = mv_strdup(labels))) {
        mv_free(s);
        return MV_ERR_NOMEM;
    }
    if (!f) {
        if (!(f = mv_calloc(1, sizeof *f)) || !(f->name = mv_strdup(name)) || !(f->help = mv_strdup(help))) {
            if (f) {
                mv_free(f->name);
                mv_free(f);
            }
            series_free(s);
            return MV_ERR_NOMEM;
        }
        f->type = type;
        if (m->last)
            m->last->next = f;
        else
            m->first = f;
        m->last = f;
        m->n_families++;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    m->n_series++;
    *out = s;
    return MV_OK;
}

mv_err mv_metrics_counter_add(mv_metrics *m, const char *name, const char *help, const char *labels,
                              uint64_t delta)
{
    series *s = NULL;
    mv_err rc;
    if (!m)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&m->lock);
    if ((rc = lookup(m, name, help, labels, FAM_COUNTER, &s)) == MV_OK)
        s->counter = s->counter > UINT64_MAX - delta ? UINT64_MAX : s->counter + delta;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

mv_err mv_metrics_gauge_set(mv_metrics *m, const char *name, const char *help, const char *labels, double v)
{
    series *s = NULL;
    mv_err rc;
    if (!m)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&m->lock);
    if ((rc = lookup(m, name, help, labels, FAM_GAUGE, &s)) == MV_OK)
        s->gauge = v;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

mv_err mv_metrics_histogram_observe(mv_metrics *m, const char *name, const char *help, const char *labels,
                                    double seconds)
{
    series *s = NULL;
    mv_err rc;
    if (!m || isnan(seconds))
        return MV_ERR_INVAL;
    pthread_mutex_lock(&m->lock);
    if ((rc = lookup(m, name, help, labels, FAM_HISTOGRAM, &s)) == MV_OK) {
        for (size_t i = 0; i < MV_METRICS_BUCKETS; i++)
            if (seconds <= bucket_bounds[i])
                s->buckets[i]++;
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Prometheus float text: Go's ParseFloat accepts %.17g plus NaN, +Inf, -Inf. */
static mv_err put_double(mv_buf *b, double v)
{
    if (isnan(v))
        return mv_buf_puts(b, "NaN");
    if (isinf(v))
        return mv_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    return mv_buf_printf(b, "%.17g", v);
}

/* "# HELP name text" with \\ and \n escaped (exposition format 0.0.4). */
static mv_err put_help(mv_buf *b, const family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    mv_err rc;
    if ((rc = mv_buf_printf(b, "# HELP %s ", f->name)) != MV_OK)
        return rc;
    for (const char *p = f->help; *p && rc == MV_OK; p++) {
        if (*p == '\\')
            rc = mv_buf_puts(b, "\\\\");
        else if (*p == '\n')
            rc = mv_buf_puts(b, "\\n");
        else
            rc = mv_buf_append(b, p, 1);
    }
    if (rc != MV_OK)
        return rc;
    return mv_buf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
}

static mv_err render_locked(const mv_metrics *m, mv_buf *b)
{
    mv_err rc = MV_OK;
    for (const family *f = m->first; f && rc == MV_OK; f = f->next) {
        if ((rc = put_help(b, f)) != MV_OK)
            break;
        for (const series *s = f->first; s && rc == MV_OK; s = s->next) {
            const char *l = s->labels, *sep = l[0] ? "," : "";
            const char *lo = l[0] ? "{" : "", *lc = l[0] ? "}" : "";
            switch (f->type) {
            case FAM_COUNTER:
                rc = mv_buf_printf(b, "%s%s%s%s %llu\n", f->name, lo, l, lc, (unsigned long long)s->counter);
                break;
            case FAM_GAUGE:
                if ((rc = mv_buf_printf(b, "%s%s%s%s ", f->name, lo, l, lc)) == MV_OK &&
                    (rc = put_double(b, s->gauge)) == MV_OK)
                    rc = mv_buf_puts(b, "\n");
                break;
            case FAM_HISTOGRAM:
                for (size_t i = 0; i < MV_METRICS_BUCKETS && rc == MV_OK; i++)
                    rc = mv_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, l, sep, bucket_labels[i],
                                       (unsigned long long)s->buckets[i]);
                if (rc == MV_OK)
                    rc = mv_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n%s_sum%s%s%s ", f->name, l, sep,
                                       (unsigned long long)s->count, f->name, lo, l, lc);
                if (rc == MV_OK && (rc = put_double(b, s->sum)) == MV_OK)
                    rc = mv_buf_printf(b, "\n%s_count%s%s%s %llu\n", f->name, lo, l, lc,
                                       (unsigned long long)s->count);
                break;
            }
        }
    }
    return rc;
}

mv_err mv_metrics_render(mv_metrics *m, mv_buf *out)
{
    mv_err rc;
    if (!m || !out)
        return MV_ERR_INVAL;
    size_t start = out->len;
    pthread_mutex_lock(&m->lock);
    rc = render_locked(m, out);
    pthread_mutex_unlock(&m->lock);
    if (rc != MV_OK && out->ptr) {
        /* Roll back a partial rendering; the buffer keeps its NUL terminator invariant. */
        out->len = start;
        out->ptr[start] = 0;
    }
    return rc;
}
