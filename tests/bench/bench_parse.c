/* Change-event parse benchmark: cc_ejson_parse beside libbson's
 * bson_init_from_json on the same lines, in the same run.
 *
 *   build/tests/bench/bench_parse [events.jsonl] [passes] [cc|libbson]
 *
 * Without a file it parses built-in 300-byte change events shaped like
 * tests/integration/gen_changes.py's. Prints ns/event and events/s for each
 * parser (wall time: noisy on a loaded machine) and checks that both give
 * byte-identical BSON for every line. For repeatable figures count
 * instructions instead, one parser at a time:
 *
 *   valgrind --tool=callgrind --toggle-collect=bench_cc \
 *       build/tests/bench/bench_parse /tmp/x.jsonl 1 cc
 *   valgrind --tool=callgrind --toggle-collect=bench_libbson \
 *       build/tests/bench/bench_parse /tmp/x.jsonl 1 libbson
 *
 * and divide the reported instruction count by the number of events. */
#include <bson/bson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "changecast/error.h"
#include "core/ejson.h"

typedef struct line {
    char *s;
    size_t n;
} line_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const OPS[] = {"insert", "update", "insert", "replace", "update",
                                  "insert", "delete", "update", "insert", "replace"};
static const char *const NAMES[] = {"Ada", "Grace", "Edsger", "Barbara",
                                    "Ken", "Dennis", "Margaret", "Alan"};

/* Event k as gen_changes.py writes it, padded to about 300 bytes. */
static line_t make_event(unsigned k)
{
    char doc[256], head[512], line[1024];
    const char *op = OPS[k % 10];
    snprintf(doc, sizeof doc,
             "{\"_id\":\"d%u\",\"owner\":\"user_%u\",\"seq\":%u,\"name\":\"%s\",\"pad\":\"%%s\"}",
             k % 5000, k % 97, k, NAMES[k % 8]);
    snprintf(head, sizeof head,
             "{\"_id\":{\"_data\":\"82%016X0004\"},\"operationType\":\"%s\","
             "\"clusterTime\":{\"$timestamp\":{\"t\":%u,\"i\":%u}},"
             "\"ns\":{\"db\":\"test\",\"coll\":\"users\"},\"documentKey\":{\"_id\":\"d%u\"}",
             k, op, 1745257727u + k / 1000, k % 1000 + 1, k % 5000);
    char upd[160] = "";
    if (strcmp(op, "update") == 0)
        snprintf(upd, sizeof upd,
                 ",\"updateDescription\":{\"updatedFields\":{\"seq\":%u,\"name\":\"%s\"},"
                 "\"removedFields\":[\"old\"]}",
                 k, NAMES[k % 8]);
    const char *field = strcmp(op, "delete") == 0 ? "fullDocumentBeforeChange" : "fullDocument";
    char tmpl[1024];
    snprintf(tmpl, sizeof tmpl, "%s%s,\"%s\":%s}", head, upd, field, doc);
    size_t base = strlen(tmpl) - 2; /* "%s" of the pad */
    int pad = 300 - (int)base;
    if (pad < 0)
        pad = 0;
    char padding[320];
    memset(padding, 'x', (size_t)pad);
    padding[pad] = '\0';
    snprintf(line, sizeof line, tmpl, padding);
    line_t l = {strdup(line), strlen(line)};
    return l;
}

static line_t *load(const char *path, size_t *n)
{
    size_t cap = 1024, k = 0;
    line_t *v = malloc(cap * sizeof *v);
    if (!v)
        return NULL;
    if (!path) {
        for (unsigned i = 0; i < 20000; i++) {
            if (k == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[k++] = make_event(i);
        }
        *n = k;
        return v;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t r;
    while ((r = getline(&buf, &bcap, f)) > 0) {
        while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
            r--;
        if (r == 0)
            continue;
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[k].s = malloc((size_t)r);
        memcpy(v[k].s, buf, (size_t)r);
        v[k].n = (size_t)r;
        k++;
    }
    free(buf);
    fclose(f);
    *n = k;
    return v;
}

/* The measured loops (named for callgrind's --toggle-collect). */
__attribute__((noinline)) size_t bench_cc(const line_t *v, size_t n, int passes)
{
    size_t bytes = 0;
    char err[256];
    for (int p = 0; p < passes; p++)
        for (size_t i = 0; i < n; i++) {
            bson_t doc;
            if (cc_ejson_parse(v[i].s, v[i].n, &doc, err, sizeof err) == 0) {
                bytes += doc.len;
                bson_destroy(&doc);
            }
        }
    return bytes;
}

__attribute__((noinline)) size_t bench_libbson(const line_t *v, size_t n, int passes)
{
    size_t bytes = 0;
    bson_error_t error;
    for (int p = 0; p < passes; p++)
        for (size_t i = 0; i < n; i++) {
            bson_t doc;
            if (bson_init_from_json(&doc, v[i].s, (ssize_t)v[i].n, &error)) {
                bytes += doc.len;
                bson_destroy(&doc);
            }
        }
    return bytes;
}

static void report(const char *name, double secs, size_t events, size_t bytes)
{
    printf("%-22s %8.1f ns/event  %10.0f events/s  (%zu BSON bytes)\n", name,
           secs * 1e9 / (double)events, (double)events / secs, bytes);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    const char *only = argc > 3 ? argv[3] : NULL;
    if (passes < 1)
        passes = 1;
    size_t n = 0;
    line_t *v = load(path, &n);
    if (!v || n == 0) {
        fprintf(stderr, "no events\n");
        return 2;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].n;
    printf("%zu events, %.0f bytes each on average, %d pass%s\n", n, (double)total / (double)n,
           passes, passes == 1 ? "" : "es");

    if (!only) {
        /* Same bytes from both, or the same refusal. */
        size_t same = 0, differ = 0, both_bad = 0, one_bad = 0;
        char err[256];
        for (size_t i = 0; i < n; i++) {
            bson_t a, b;
            bson_error_t error;
            int ok_a = cc_ejson_parse(v[i].s, v[i].n, &a, err, sizeof err) == 0;
            int ok_b = bson_init_from_json(&b, v[i].s, (ssize_t)v[i].n, &error);
            if (ok_a && ok_b)
                (a.len == b.len && memcmp(bson_get_data(&a), bson_get_data(&b), a.len) == 0)
                    ? same++
                    : differ++;
            else if (!ok_a && !ok_b)
                both_bad++;
            else
                one_bad++;
            if (ok_a)
                bson_destroy(&a);
            if (ok_b)
                bson_destroy(&b);
        }
        printf("identical BSON: %zu, different: %zu, refused by both: %zu, by one: %zu\n", same,
               differ, both_bad, one_bad);
    }

    size_t events = n * (size_t)passes;
    if (!only || strcmp(only, "cc") == 0) {
        double t0 = now_s();
        size_t bytes = bench_cc(v, n, passes);
        report("cc_ejson_parse", now_s() - t0, events, bytes);
    }
    if (!only || strcmp(only, "libbson") == 0) {
        double t0 = now_s();
        size_t bytes = bench_libbson(v, n, passes);
        report("bson_init_from_json", now_s() - t0, events, bytes);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].s);
    free(v);
    return 0;
}
