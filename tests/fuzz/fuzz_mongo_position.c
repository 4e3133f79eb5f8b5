/* tests/fuzz/fuzz_mongo_position.c — the mongo source's inputs from outside
 * that are not the server's: a saved position (the state file) and, read as
 * BSON, a change document walked by the lookup's path rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

static int fz_value(void *arg, const bson_iter_t *v)
{
    (void)arg;
    free(mg_value_string(v));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const char *const keys[] = {"test/users", "test/orders,users", "*/*"};
    for (size_t k = 0; k < 3; k++) {
        mg_from_t from = {0};
        char err[256];
        if (mg_position_find(text, keys[k], &from, err, sizeof err) == 1) {
            char *v = mg_position_value(from.token, from.kind == MG_FROM_START_AFTER);
            free(v);
        }
        mg_from_clear(&from);
    }
    free(text);

    bson_t doc;
    if (bson_init_static(&doc, data, size) && bson_validate(&doc, BSON_VALIDATE_NONE, NULL)) {
        static const char *const paths[] = {"fullDocument.owner.$id", "fullDocument.m.1.u",
                                             "documentKey._id", "a"};
        for (size_t p = 0; p < 4; p++)
            mg_path_each(&doc, paths[p], fz_value, NULL);
    }
    return 0;
}
