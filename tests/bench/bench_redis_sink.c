/* tests/bench/bench_redis_sink.c — the redis sink alone: pre-built events
 * delivered straight to the plugin (the unit tests' mock host, no bus, no
 * parsing), timed until Redis answered every one.
 *
 *     bench_redis_sink PORT N [SIZE] [stream]
 *
 * Prints events/s. bench_redis.py runs it beside redis-benchmark to show
 * what the sink itself does with Redis, apart from the core's cost of
 * building envelopes. Like the core, it keeps at most 65536 events
 * delivered and not yet acknowledged (the default bus capacity).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "mock_host.h"

#define WINDOW 65536
#define BATCH 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atoi(argv[1]) <= 0 || strtoull(argv[2], NULL, 10) == 0) {
        fprintf(stderr, "usage: bench_redis_sink PORT N [SIZE] [stream]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    size_t n = (size_t)strtoull(argv[2], NULL, 10);
    size_t size = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 300;
    int stream = argc > 4 && strcmp(argv[4], "stream") == 0;

    char config[256];
    snprintf(config, sizeof config, "{\"uri\":\"redis://127.0.0.1:%d/0\"%s}", port,
             stream ? ",\"stream\":{\"key\":\"bench\",\"maxlen\":100000}" : "");
    const cc_plugin_t *p = cc_plugin_entry();
    cc_instance_t *inst = mock_instance_new(p, config, NULL);
    struct event_base *base = event_base_new();
    if (!inst || !base)
        return 1;
    mock_set_event_base(inst, base);

    /* Envelopes of about `size` bytes, recipients user_0 .. user_96. */
    cc_event_t **evs = malloc(n * sizeof *evs);
    char *pad = malloc(size + 1);
    char *json = malloc(size + 512);
    if (!evs || !pad || !json)
        return 1;
#define ENVELOPE_FMT                                                                       \
    "{\"operation\":\"insert\",\"collection\":\"users\",\"document_id\":\"d%zu\","             \
    "\"data\":{\"seq\":%zu,\"pad\":\"%s\"},\"timestamp\":1745257727.0,"                       \
    "\"namespace\":\"test\",\"recipient\":\"user_%zu\",\"id\":\"82%016zX0004\"}"
    /* Pad so that the first envelope is `size` bytes (if it can be). */
    size_t bare = (size_t)snprintf(NULL, 0, ENVELOPE_FMT, (size_t)0, (size_t)0, "", (size_t)0,
                                   (size_t)0);
    size_t padn = size > bare ? size - bare : 0;
    memset(pad, 'x', padn);
    pad[padn] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(json, size + 512, ENVELOPE_FMT,
                 i, i, pad, i % 97, i);
        evs[i] = mock_event_new(json);
    }

    void *state = NULL;
    if (p->init(inst, mock_host(), &state) != 0 || p->start(state) != 0)
        return 1;
    double t0 = now_s();
    size_t delivered = 0;
    while (mock_acks(inst) < n) {
        while (delivered < n && delivered - mock_acks(inst) + BATCH <= WINDOW) {
            size_t k = n - delivered < BATCH ? n - delivered : BATCH;
            cc_batch_t b = {.size = sizeof b, .count = k, .events = evs + delivered};
            p->deliver(state, &b);
            delivered += k;
        }
        event_base_loop(base, EVLOOP_ONCE);
    }
    double wall = now_s() - t0;
    printf("%.0f\n", (double)n / wall);
    size_t len = 0;
    mock_host()->event_json(evs[0], &len);
    fprintf(stderr, "bench_redis_sink: %zu events of %zu bytes in %.2f s\n", n, len, wall);
    p->stop(state);
    p->destroy(state);
    for (size_t i = 0; i < n; i++)
        mock_event_free(evs[i]);
    free(evs);
    free(pad);
    free(json);
    mock_instance_free(inst);
    event_base_free(base);
    return 0;
}
