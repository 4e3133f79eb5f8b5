/* tests/unit/test_metrics.c — exact Prometheus text, lock-free updates from
 * many threads, the latency histogram. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

#define EMPTY_HISTOGRAM                                                                        \
    "# HELP changecast_delivery_latency_seconds Time from a source emitting an event to a "  \
    "sink acknowledging it.\n"                                                                 \
    "# TYPE changecast_delivery_latency_seconds histogram\n"                                   \
    "changecast_delivery_latency_seconds_bucket{le=\"0.0005\"} 0\n"                            \
    "changecast_delivery_latency_seconds_bucket{le=\"0.001\"} 0\n"                             \
    "changecast_delivery_latency_seconds_bucket{le=\"0.0025\"} 0\n"                            \
    "changecast_delivery_latency_seconds_bucket{le=\"0.005\"} 0\n"                             \
    "changecast_delivery_latency_seconds_bucket{le=\"0.01\"} 0\n"                              \
    "changecast_delivery_latency_seconds_bucket{le=\"0.025\"} 0\n"                             \
    "changecast_delivery_latency_seconds_bucket{le=\"0.05\"} 0\n"                              \
    "changecast_delivery_latency_seconds_bucket{le=\"0.1\"} 0\n"                               \
    "changecast_delivery_latency_seconds_bucket{le=\"0.25\"} 0\n"                              \
    "changecast_delivery_latency_seconds_bucket{le=\"0.5\"} 0\n"                               \
    "changecast_delivery_latency_seconds_bucket{le=\"1\"} 0\n"                                 \
    "changecast_delivery_latency_seconds_bucket{le=\"2.5\"} 0\n"                               \
    "changecast_delivery_latency_seconds_bucket{le=\"5\"} 0\n"                                 \
    "changecast_delivery_latency_seconds_bucket{le=\"10\"} 0\n"                                \
    "changecast_delivery_latency_seconds_bucket{le=\"+Inf\"} 0\n"                              \
    "changecast_delivery_latency_seconds_sum 0\n"                                              \
    "changecast_delivery_latency_seconds_count 0\n"

static char *render(cc_metrics_t *m)
{
    cc_buf_t b = CC_BUF_INIT;
    char *s;

    cc_metrics_render(m, &b);
    assert_false(b.oom);
    s = strdup(cc_buf_cstr(&b));
    cc_buf_free(&b);
    assert_non_null(s);
    return s;
}

static void empty_registry_renders_the_histogram_at_zero(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    char *text;

    (void)vs;
    assert_non_null(m);
    text = render(m);
    assert_string_equal(text, EMPTY_HISTOGRAM);
    free(text);
    cc_metrics_free(m);
}

static void series_of_one_name_render_together_with_one_help_and_type(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    cc_metric_t *ok, *failed, *depth, *lag, *cap;
    char *text;

    (void)vs;
    ok = cc_metrics_add(m, CC_METRIC_COUNTER, "changecast_sink_events_total",
                        "Events handled by each sink, by result.", "sink=\"out\",result=\"ok\"");
    depth = cc_metrics_add(m, CC_METRIC_GAUGE, "changecast_bus_depth",
                           "Events waiting in the bus.", NULL);
    failed = cc_metrics_add(m, CC_METRIC_COUNTER, "changecast_sink_events_total",
                            "ignored: the first help wins", "sink=\"out\",result=\"failed\"");
    lag = cc_metrics_add(m, CC_METRIC_GAUGE, "changecast_source_lag_seconds",
                         "Seconds behind,\nwith a \\ in help.", "source=\"orders\"");
    cap = cc_metrics_add(m, CC_METRIC_GAUGE, "changecast_bus_capacity", NULL, "");
    assert_non_null(ok);
    assert_non_null(failed);
    assert_non_null(depth);
    assert_non_null(lag);
    assert_non_null(cap);

    cc_metric_add(ok, 3);
    cc_metric_add(ok, 4);
    cc_metric_add(failed, 1e15);
    cc_metric_set(depth, 42);
    cc_metric_add(depth, -2);
    cc_metric_set(lag, 0.1);
    cc_metric_set(cap, 65536);

    text = render(m);
    assert_string_equal(text,
        "# HELP changecast_sink_events_total Events handled by each sink, by result.\n"
        "# TYPE changecast_sink_events_total counter\n"
        "changecast_sink_events_total{sink=\"out\",result=\"ok\"} 7\n"
        "changecast_sink_events_total{sink=\"out\",result=\"failed\"} 1000000000000000\n"
        "# HELP changecast_bus_depth Events waiting in the bus.\n"
        "# TYPE changecast_bus_depth gauge\n"
        "changecast_bus_depth 40\n"
        "# HELP changecast_source_lag_seconds Seconds behind,\\nwith a \\\\ in help.\n"
        "# TYPE changecast_source_lag_seconds gauge\n"
        "changecast_source_lag_seconds{source=\"orders\"} 0.1\n"
        "# TYPE changecast_bus_capacity gauge\n"
        "changecast_bus_capacity 65536\n"
        EMPTY_HISTOGRAM);
    free(text);
    cc_metrics_free(m);
}

static void values_print_exactly(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-3, "-3"},
        {0.5, "0.5"},
        {1.0 / 3.0, "0.3333333333333333"},
        {123456789012.25, "123456789012.25"},
        {9007199254740993.0, "9007199254740992"},
        {1e300, "1e+300"},
        {1e-7, "1e-07"},
        {0.1 + 0.2, "0.30000000000000004"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };

    (void)vs;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32], want[128], *text;
        cc_metric_t *g;

        snprintf(name, sizeof(name), "g%zu", i);
        g = cc_metrics_add(m, CC_METRIC_GAUGE, name, NULL, NULL);
        assert_non_null(g);
        cc_metric_set(g, cases[i].v);
        text = render(m);
        snprintf(want, sizeof(want), "\n%s %s\n", name, cases[i].text);
        if (strstr(text, want) == NULL)
            fail_msg("%g: want \"%s %s\" in\n%s", cases[i].v, name, cases[i].text, text);
        free(text);
    }
    cc_metrics_free(m);
}

static void registering_twice_returns_the_same_series(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    cc_metric_t *a, *b, *c;

    (void)vs;
    a = cc_metrics_add(m, CC_METRIC_COUNTER, "x_total", "X.", "sink=\"a\"");
    b = cc_metrics_add(m, CC_METRIC_COUNTER, "x_total", "X.", "sink=\"a\"");
    c = cc_metrics_add(m, CC_METRIC_COUNTER, "x_total", "X.", "sink=\"b\"");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    cc_metrics_free(m);
}

static void bad_registrations_return_null(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();

    (void)vs;
    assert_non_null(cc_metrics_add(m, CC_METRIC_COUNTER, "x_total", NULL, NULL));
    /* Same name, other type. */
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "x_total", NULL, "a=\"1\""));
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "", NULL, NULL));
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, NULL, NULL, NULL));
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "9lives", NULL, NULL));
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "has space", NULL, NULL));
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "has-dash", NULL, NULL));
    assert_null(cc_metrics_add(m, (cc_metric_kind_t)7, "fine", NULL, NULL));
    /* The histogram's names are taken. */
    assert_null(cc_metrics_add(m, CC_METRIC_GAUGE, "changecast_delivery_latency_seconds",
                               NULL, NULL));
    assert_null(cc_metrics_add(m, CC_METRIC_COUNTER,
                               "changecast_delivery_latency_seconds_count", NULL, NULL));
    assert_non_null(cc_metrics_add(m, CC_METRIC_GAUGE, "ns:sub_name9", NULL, NULL));
    /* NULL metrics are no-ops, so a failed registration cannot crash. */
    cc_metric_add(NULL, 1);
    cc_metric_set(NULL, 1);
    assert_true(cc_metric_get(NULL) == 0.0);
    cc_metrics_free(m);
}

static void counters_ignore_negative_and_nan_adds(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    cc_metric_t *c = cc_metrics_add(m, CC_METRIC_COUNTER, "c_total", NULL, NULL);
    cc_metric_t *g = cc_metrics_add(m, CC_METRIC_GAUGE, "g", NULL, NULL);

    (void)vs;
    cc_metric_add(c, 5);
    cc_metric_add(c, -1);
    cc_metric_add(c, NAN);
    assert_true(cc_metric_get(c) == 5.0);
    cc_metric_add(g, 5);
    cc_metric_add(g, -1);
    assert_true(cc_metric_get(g) == 4.0);
    cc_metrics_free(m);
}

#define THREADS 4
#define ADDS 250000

typedef struct adder {
    cc_metric_t *counter;
    cc_metric_t *gauge;
    cc_metrics_t *m;
} adder_t;

static void *adder_main(void *p)
{
    adder_t *a = p;

    for (int i = 0; i < ADDS; i++) {
        cc_metric_add(a->counter, 1);
        cc_metric_add(a->gauge, 0.25);
        if (i % 100 == 0)
            cc_metrics_observe_latency(a->m, 0.003);
    }
    return NULL;
}

static void concurrent_adds_from_four_threads_sum_exactly(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    pthread_t th[THREADS];
    adder_t a;
    char *text;

    (void)vs;
    a.m = m;
    a.counter = cc_metrics_add(m, CC_METRIC_COUNTER, "adds_total", NULL, NULL);
    a.gauge = cc_metrics_add(m, CC_METRIC_GAUGE, "quarters", NULL, NULL);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, adder_main, &a), 0);
    /* Rendering while the threads add is safe too. */
    for (int i = 0; i < 20; i++) {
        text = render(m);
        free(text);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    assert_true(cc_metric_get(a.counter) == (double)THREADS * ADDS);
    assert_true(cc_metric_get(a.gauge) == (double)THREADS * ADDS * 0.25);
    text = render(m);
    assert_non_null(strstr(text, "\nadds_total 1000000\n"));
    assert_non_null(strstr(text, "\nquarters 250000\n"));
    assert_non_null(strstr(text, "_bucket{le=\"0.005\"} 10000\n"));
    assert_non_null(strstr(text, "_seconds_count 10000\n"));
    free(text);
    cc_metrics_free(m);
}

static void histogram_buckets_are_cumulative(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    char *text;

    (void)vs;
    cc_metrics_observe_latency(m, 0.0005);  /* on a bound: counts in that bucket */
    cc_metrics_observe_latency(m, 0.003);
    cc_metrics_observe_latency(m, 0.003);
    cc_metrics_observe_latency(m, 0.75);
    cc_metrics_observe_latency(m, 20);      /* only in +Inf */
    cc_metrics_observe_latency(m, -1);      /* clock skew: counts as 0 */
    cc_metrics_observe_latency(m, NAN);     /* ignored */

    text = render(m);
    assert_string_equal(text,
        "# HELP changecast_delivery_latency_seconds Time from a source emitting an event to a "
        "sink acknowledging it.\n"
        "# TYPE changecast_delivery_latency_seconds histogram\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.0005\"} 2\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.001\"} 2\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.0025\"} 2\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.005\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.01\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.025\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.05\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.1\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.25\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"0.5\"} 4\n"
        "changecast_delivery_latency_seconds_bucket{le=\"1\"} 5\n"
        "changecast_delivery_latency_seconds_bucket{le=\"2.5\"} 5\n"
        "changecast_delivery_latency_seconds_bucket{le=\"5\"} 5\n"
        "changecast_delivery_latency_seconds_bucket{le=\"10\"} 5\n"
        "changecast_delivery_latency_seconds_bucket{le=\"+Inf\"} 6\n"
        "changecast_delivery_latency_seconds_sum 20.7565\n"
        "changecast_delivery_latency_seconds_count 6\n");
    free(text);
    cc_metrics_free(m);
}

typedef struct refresh_ctx {
    cc_metric_t *depth;
    int calls;
} refresh_ctx_t;

static void refresh_depth(void *arg)
{
    refresh_ctx_t *c = arg;

    c->calls++;
    cc_metric_set(c->depth, c->calls * 10);
}

static void render_callbacks_refresh_gauges_first(void **vs)
{
    cc_metrics_t *m = cc_metrics_new();
    refresh_ctx_t ctx = {0};
    char *text;

    (void)vs;
    ctx.depth = cc_metrics_add(m, CC_METRIC_GAUGE, "changecast_bus_depth", "Depth.", NULL);
    cc_metrics_on_render(m, refresh_depth, &ctx);
    text = render(m);
    assert_non_null(strstr(text, "\nchangecast_bus_depth 10\n"));
    free(text);
    text = render(m);
    assert_non_null(strstr(text, "\nchangecast_bus_depth 20\n"));
    free(text);
    assert_int_equal(ctx.calls, 2);
    cc_metrics_free(m);
}

static void label_values_are_escaped(void **vs)
{
    cc_buf_t b = CC_BUF_INIT;

    (void)vs;
    cc_buf_puts(&b, "sink=");
    cc_metrics_label_value(&b, "a\"b\\c\nd");
    assert_string_equal(cc_buf_cstr(&b), "sink=\"a\\\"b\\\\c\\nd\"");
    cc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_registry_renders_the_histogram_at_zero),
        cmocka_unit_test(series_of_one_name_render_together_with_one_help_and_type),
        cmocka_unit_test(values_print_exactly),
        cmocka_unit_test(registering_twice_returns_the_same_series),
        cmocka_unit_test(bad_registrations_return_null),
        cmocka_unit_test(counters_ignore_negative_and_nan_adds),
        cmocka_unit_test(concurrent_adds_from_four_threads_sum_exactly),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(render_callbacks_refresh_gauges_first),
        cmocka_unit_test(label_values_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
