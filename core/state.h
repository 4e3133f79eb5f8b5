/* core/state.h — resume points, one per source, kept in a file.
 *
 * The file is JSON: {"version":1,"sources":{"<name>":{"position":"…"}}}.
 * It is written atomically (temporary file, fsync, rename, fsync of the
 * folder), so a crash at any moment leaves either the old or the new file.
 */
#ifndef CC_CORE_STATE_H
#define CC_CORE_STATE_H

#include <stddef.h>

typedef struct cc_state cc_state_t;

/* Reads `path` if it exists (a missing file is an empty state). Returns 0
 * and a new state in *out, or CC_EPARSE / CC_EIO with a message in err
 * (a corrupt file is not silently ignored). */
int cc_state_open(const char *path, cc_state_t **out, char *err, size_t errlen);
void cc_state_free(cc_state_t *st);

/* The saved position of a source, or NULL (borrowed; valid until the next
 * cc_state_set for that source). */
const char *cc_state_get(cc_state_t *st, const char *source);

/* Records a newer position (copied); marks the state dirty. Any thread. */
int cc_state_set(cc_state_t *st, const char *source, const char *position);

/* Writes the file if dirty. Returns 0 or CC_EIO with a message in err.
 * Any thread (serialized internally). */
int cc_state_flush(cc_state_t *st, char *err, size_t errlen);

/* Called after each successful write, once per source in the file, with the
 * position written (both borrowed for the call), on the flushing thread,
 * under the flush lock: it must not flush. */
typedef void (*cc_state_written_cb)(void *arg, const char *source, const char *position);
/* Sets (or clears, with NULL) the written callback. Before any flush. */
void cc_state_on_written(cc_state_t *st, cc_state_written_cb cb, void *arg);

/* Test hook: when non-NULL, called between writing+fsync of the temporary
 * file and the rename; returning non-zero aborts the flush there, as a crash
 * at that moment would. */
extern int (*cc_state_test_before_rename)(const char *tmp_path);

#endif
