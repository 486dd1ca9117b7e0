/* mv_metrics.h - a thread-safe registry of Prometheus counters, gauges and histograms,
 * rendered in the text exposition format 0.0.4.
 *
 * A family is a metric name with its help text and type; a series is one label set of a
 * family. Both are created on first use. The help text of the first call is kept. Label
 * sets are given pre-formatted, exactly as they will appear between the braces:
 * `code="400"` or `method="GET",code="200"` (values escaped as Prometheus requires:
 * \\ \" \n). Series are never deleted, so label values must come from small, fixed sets
 * (status codes, route names), never from request data: the caps below bound the memory
 * an attacker could otherwise consume. Metrics never carry patient data or keys.
 *
 * Every function may be called from any thread at any time (one mutex per registry). */
#ifndef MV_METRICS_H
#define MV_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_METRICS_MAX_FAMILIES 256  /* families per registry */
#define MV_METRICS_MAX_SERIES 4096   /* series per registry, over all families */
#define MV_METRICS_MAX_NAME 128      /* metric name length */
#define MV_METRICS_MAX_LABELS 512    /* label-set text length */
#define MV_METRICS_MAX_HELP 1024     /* help text length */
/* Histogram bucket upper bounds in seconds (a +Inf bucket follows). */
#define MV_METRICS_BUCKETS 14

typedef struct mv_metrics mv_metrics;

/* Creates an empty registry. Errors: MV_ERR_INVAL (out NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_metrics_new(mv_metrics **out) __attribute__((warn_unused_result));
/* Frees the registry and every series (accepts NULL). No other call may be in progress. */
MV_API void mv_metrics_free(mv_metrics *m);

/* Common arguments: name matches [a-zA-Z_:][a-zA-Z0-9_:]* (at most MV_METRICS_MAX_NAME);
 * help is any text (NULL = empty; escaped on output); labels is NULL or "" for no labels,
 * else a well-formed label set as above whose names match [a-zA-Z_][a-zA-Z0-9_]*, do not
 * start with "__", and (for histograms) are not "le". All strings are copied.
 * Common errors: MV_ERR_INVAL (m NULL, malformed name/labels, name already registered with
 * another type), MV_ERR_TOO_LARGE (a length cap, or the family/series cap reached),
 * MV_ERR_NOMEM. */

/* Adds delta to a counter series (created at 0; delta 0 just creates it). Saturates at
 * UINT64_MAX. */
MV_API mv_err mv_metrics_counter_add(mv_metrics *m, const char *name, const char *help, const char *labels,
                                     uint64_t delta) __attribute__((warn_unused_result));
/* Sets a gauge series to v (any double, including NaN and infinities). */
MV_API mv_err mv_metrics_gauge_set(mv_metrics *m, const char *name, const char *help, const char *labels, double v)
    __attribute__((warn_unused_result));
/* Records one observation (in seconds) in a histogram series with buckets
 * 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf.
 * MV_ERR_INVAL also for NaN. */
MV_API mv_err mv_metrics_histogram_observe(mv_metrics *m, const char *name, const char *help, const char *labels,
                                           double seconds) __attribute__((warn_unused_result));

/* Appends the text exposition (format 0.0.4) of every family, in registration order, to
 * out: "# HELP" and "# TYPE" once per family, then its series in creation order
 * (histograms as _bucket{le=...} cumulative counts, _sum and _count). The caller
 * initialises out (with its cap). On error out is left as it was.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM. */
MV_API mv_err mv_metrics_render(mv_metrics *m, mv_buf *out) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
