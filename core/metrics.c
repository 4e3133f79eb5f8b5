/* core/metrics.c — a registry of counters and gauges plus the delivery
 * latency histogram, rendered in Prometheus text format 0.0.4.
 *
 * Values are doubles stored as their bit patterns in _Atomic uint64_t, so an
 * update from any thread is one atomic store or a compare-and-swap loop, with
 * no lock. Series of one name are kept together in a family, so a name's
 * HELP and TYPE come once and its series follow, whatever order they were
 * registered in.
 */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LATENCY_NAME "changecast_delivery_latency_seconds"
#define LATENCY_HELP "Time from a source emitting an event to a sink acknowledging it."
#define N_BUCKETS 15   /* 14 bounds and +Inf */

static const double bucket_bounds[N_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
/* Spelled out so `le` labels never depend on float formatting. */
static const char *const bucket_labels[N_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10", "+Inf",
};

struct cc_metric {
    _Atomic uint64_t bits;         /* the value, as a double's bits */
    cc_metric_kind_t kind;
    char *labels;                  /* preformatted, or NULL */
    struct cc_metric *next;        /* in its family */
};

typedef struct family {
    char *name;
    char *help;                    /* or NULL */
    cc_metric_kind_t kind;
    cc_metric_t *first, *last;
    struct family *next;
} family_t;

typedef struct refresh {
    cc_metrics_refresh_cb cb;
    void *arg;
} refresh_t;

struct cc_metrics {
    pthread_mutex_t lock;          /* families, refreshers */
    family_t *first, *last;
    refresh_t *refresh;
    size_t n_refresh, cap_refresh;

    _Atomic uint64_t buckets[N_BUCKETS];   /* per bucket, not cumulative */
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t count;
};

static uint64_t to_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double from_bits(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    uint64_t want;

    do {
        want = to_bits(from_bits(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, want, memory_order_relaxed,
                                                    memory_order_relaxed));
}

cc_metrics_t *cc_metrics_new(void)
{
    cc_metrics_t *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    for (size_t i = 0; i < N_BUCKETS; i++)
        atomic_init(&m->buckets[i], 0);
    atomic_init(&m->sum_bits, to_bits(0.0));
    atomic_init(&m->count, 0);
    return m;
}

void cc_metrics_free(cc_metrics_t *m)
{
    family_t *f, *fn;
    cc_metric_t *s, *sn;

    if (m == NULL)
        return;
    for (f = m->first; f != NULL; f = fn) {
        fn = f->next;
        for (s = f->first; s != NULL; s = sn) {
            sn = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->refresh);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

/* The histogram owns its name and the three derived ones. */
static int reserved_name(const char *s)
{
    size_t n = strlen(LATENCY_NAME);

    if (strncmp(s, LATENCY_NAME, n) != 0)
        return 0;
    s += n;
    return *s == '\0' || strcmp(s, "_bucket") == 0 || strcmp(s, "_sum") == 0 ||
           strcmp(s, "_count") == 0;
}

static int same_labels(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

cc_metric_t *cc_metrics_add(cc_metrics_t *m, cc_metric_kind_t kind, const char *name,
                            const char *help, const char *labels)
{
    family_t *f;
    cc_metric_t *s, *found = NULL;

    if (m == NULL || !valid_name(name) || reserved_name(name) ||
        (kind != CC_METRIC_COUNTER && kind != CC_METRIC_GAUGE))
        return NULL;
    if (labels != NULL && labels[0] == '\0')
        labels = NULL;
    if (help != NULL && help[0] == '\0')
        help = NULL;

    /* Allocate the series before taking the lock. */
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (labels != NULL && (s->labels = strdup(labels)) == NULL) {
        free(s);
        return NULL;
    }
    atomic_init(&s->bits, to_bits(0.0));
    s->kind = kind;

    pthread_mutex_lock(&m->lock);
    for (f = m->first; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            break;
    }
    if (f != NULL) {
        if (f->kind != kind)
            goto fail;     /* one name, one type */
        for (cc_metric_t *e = f->first; e != NULL; e = e->next) {
            if (same_labels(e->labels, labels)) {
                found = e;  /* registering twice gives the same series */
                break;
            }
        }
        if (found != NULL) {
            pthread_mutex_unlock(&m->lock);
            free(s->labels);
            free(s);
            return found;
        }
        if (f->help == NULL && help != NULL)
            f->help = strdup(help);   /* best effort: HELP is optional */
    } else {
        f = calloc(1, sizeof(*f));
        if (f == NULL)
            goto fail;
        f->name = strdup(name);
        f->help = help != NULL ? strdup(help) : NULL;
        f->kind = kind;
        if (f->name == NULL || (help != NULL && f->help == NULL)) {
            free(f->name);
            free(f->help);
            free(f);
            goto fail;
        }
        if (m->last != NULL)
            m->last->next = f;
        else
            m->first = f;
        m->last = f;
    }
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    pthread_mutex_unlock(&m->lock);
    return s;

fail:
    pthread_mutex_unlock(&m->lock);
    free(s->labels);
    free(s);
    return NULL;
}

void cc_metric_add(cc_metric_t *mt, double v)
{
    if (mt == NULL || isnan(v))
        return;
    if (mt->kind == CC_METRIC_COUNTER && v < 0)
        return;    /* counters only go up */
    atomic_add_double(&mt->bits, v);
}

void cc_metric_set(cc_metric_t *mt, double v)
{
    if (mt == NULL)
        return;
    atomic_store_explicit(&mt->bits, to_bits(v), memory_order_relaxed);
}

double cc_metric_get(const cc_metric_t *mt)
{
    if (mt == NULL)
        return 0.0;
    return from_bits(atomic_load_explicit(&((cc_metric_t *)mt)->bits, memory_order_relaxed));
}

void cc_metrics_observe_latency(cc_metrics_t *m, double seconds)
{
    size_t i;

    if (m == NULL || isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;    /* clocks on two threads may disagree slightly */
    for (i = 0; i < N_BUCKETS - 1; i++) {
        if (seconds <= bucket_bounds[i])
            break;
    }
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&m->sum_bits, seconds);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

void cc_metrics_on_render(cc_metrics_t *m, cc_metrics_refresh_cb cb, void *arg)
{
    if (m == NULL || cb == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->n_refresh == m->cap_refresh) {
        size_t cap = m->cap_refresh ? m->cap_refresh * 2 : 4;
        refresh_t *p = realloc(m->refresh, cap * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&m->lock);
            return;
        }
        m->refresh = p;
        m->cap_refresh = cap;
    }
    m->refresh[m->n_refresh].cb = cb;
    m->refresh[m->n_refresh].arg = arg;
    m->n_refresh++;
    pthread_mutex_unlock(&m->lock);
}

/* Integers print without exponent or fraction; other values with the fewest
 * digits that read back as the same double (at most %.17g). */
static void put_value(cc_buf_t *out, double v)
{
    char tmp[40];

    if (isnan(v)) {
        cc_buf_lit(out, "NaN");
        return;
    }
    if (isinf(v)) {
        cc_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        cc_buf_lit(out, "0");   /* also -0 */
        return;
    }
    if (v == trunc(v) && fabs(v) < 1e17) {
        cc_buf_printf(out, "%.0f", v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    cc_buf_puts(out, tmp);
}

/* HELP text: backslash and newline escaped. */
static void put_help(cc_buf_t *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            cc_buf_lit(out, "\\\\");
        else if (*s == '\n')
            cc_buf_lit(out, "\\n");
        else
            cc_buf_putc(out, *s);
    }
}

void cc_metrics_label_value(cc_buf_t *out, const char *value)
{
    cc_buf_putc(out, '"');
    for (; value != NULL && *value; value++) {
        if (*value == '\\')
            cc_buf_lit(out, "\\\\");
        else if (*value == '"')
            cc_buf_lit(out, "\\\"");
        else if (*value == '\n')
            cc_buf_lit(out, "\\n");
        else
            cc_buf_putc(out, *value);
    }
    cc_buf_putc(out, '"');
}

static void render_histogram(cc_metrics_t *m, cc_buf_t *out)
{
    uint64_t cum = 0;

    cc_buf_puts(out, "# HELP " LATENCY_NAME " " LATENCY_HELP "\n"
                     "# TYPE " LATENCY_NAME " histogram\n");
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        cc_buf_printf(out, LATENCY_NAME "_bucket{le=\"%s\"} %llu\n", bucket_labels[i],
                      (unsigned long long)cum);
    }
    cc_buf_puts(out, LATENCY_NAME "_sum ");
    put_value(out, from_bits(atomic_load_explicit(&m->sum_bits, memory_order_relaxed)));
    /* _count equals the +Inf bucket, even while observations race us. */
    cc_buf_printf(out, "\n" LATENCY_NAME "_count %llu\n", (unsigned long long)cum);
}

void cc_metrics_render(cc_metrics_t *m, cc_buf_t *out)
{
    refresh_t *cbs = NULL;
    size_t n = 0;

    if (m == NULL || out == NULL)
        return;

    /* Refresh callbacks run without the lock, so they may register too. */
    pthread_mutex_lock(&m->lock);
    if (m->n_refresh > 0) {
        cbs = malloc(m->n_refresh * sizeof(*cbs));
        if (cbs != NULL) {
            n = m->n_refresh;
            memcpy(cbs, m->refresh, n * sizeof(*cbs));
        }
    }
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++)
        cbs[i].cb(cbs[i].arg);
    free(cbs);

    pthread_mutex_lock(&m->lock);
    for (family_t *f = m->first; f != NULL; f = f->next) {
        if (f->help != NULL) {
            cc_buf_printf(out, "# HELP %s ", f->name);
            put_help(out, f->help);
            cc_buf_putc(out, '\n');
        }
        cc_buf_printf(out, "# TYPE %s %s\n", f->name,
                      f->kind == CC_METRIC_COUNTER ? "counter" : "gauge");
        for (cc_metric_t *s = f->first; s != NULL; s = s->next) {
            cc_buf_puts(out, f->name);
            if (s->labels != NULL) {
                cc_buf_putc(out, '{');
                cc_buf_puts(out, s->labels);
                cc_buf_putc(out, '}');
            }
            cc_buf_putc(out, ' ');
            put_value(out, cc_metric_get(s));
            cc_buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
    render_histogram(m, out);
}
