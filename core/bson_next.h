/* core/bson_next.h — bson_iter_next, inline, for the common element types.
 *
 * libbson's bson_iter_next costs ~120 instructions per element (a call, a
 * byte-wise key scan, a switch through every type), and the envelope hot
 * path steps through some 20 elements per change. cc_bson_next does the
 * same for the types a change event is mostly made of (double, string,
 * document, array, ObjectId, bool, date, null, int32, timestamp, int64),
 * setting the iterator exactly as libbson would (the offsets bson_iter_t
 * exposes in libbson's public header, which its own inline accessors
 * read), and the end of a document. Anything else (another type, any
 * bound it would have to judge) is handed to bson_iter_next itself, from
 * the same state: corrupt BSON is refused by libbson, with libbson's
 * err_off. Not a parser:
 * tests/unit/test_bson_next.c checks it against libbson, state for state,
 * on mutated documents, and the fuzz target fuzz_event runs it on raw BSON.
 */
#ifndef CC_CORE_BSON_NEXT_H
#define CC_CORE_BSON_NEXT_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "changecast/portable.h"

static inline bool cc_bson_next(bson_iter_t *it)
{
    const uint8_t *d = it->raw;
    uint32_t len = it->len;
    uint32_t o = it->next_off;
    /* Room for a type byte, a one-byte key and its NUL before the last
     * byte, or else the end or something libbson decides. */
    if (d == NULL || len < 5 || o >= len - 3) {
        if (d != NULL && len >= 5 && o == len - 1 && d[o] == 0) {
            /* The end, as libbson leaves it: positioned on the terminator,
             * no key found after it, the iterator invalidated. */
            it->off = o;
            it->type = o;
            it->key = o + 1;
            it->d1 = it->d2 = it->d3 = it->d4 = 0;
            it->raw = NULL;
            it->len = 0;
            it->next_off = 0;
            return false;
        }
        return bson_iter_next(it);
    }
    uint8_t t = d[o];
    uint32_t k = o + 1, v = k;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The key's NUL, eight bytes at a time while they are in bounds: the
     * lowest flagged byte of the zero-byte test is exact. */
    while (len - v >= 8) {
        uint64_t x;
        memcpy(&x, d + v, 8);
        uint64_t z = (x - UINT64_C(0x0101010101010101)) & ~x & UINT64_C(0x8080808080808080);
        if (z != 0) {
            v += (uint32_t)CC_CTZ64(z) / 8;
            goto have_key;
        }
        v += 8;
    }
#endif
    while (v < len && d[v] != 0)
        v++;
    if (v >= len)
        return bson_iter_next(it);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
have_key:
#endif
    v++;   /* the first value byte (libbson's d1) */
    uint32_t next, d2 = 0;
    switch (t) {
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DATE_TIME:
    case BSON_TYPE_TIMESTAMP:
    case BSON_TYPE_INT64:
        next = v + 8;
        break;
    case BSON_TYPE_INT32:
        next = v + 4;
        break;
    case BSON_TYPE_OID:
        next = v + 12;
        break;
    case BSON_TYPE_NULL:
        next = v;
        break;
    case BSON_TYPE_BOOL:
        if (v >= len || d[v] > 1)
            return bson_iter_next(it);
        next = v + 1;
        break;
    case BSON_TYPE_UTF8: {
        uint32_t l;
        if (v >= len || len - v <= 4)
            return bson_iter_next(it);
        memcpy(&l, d + v, 4);
        l = BSON_UINT32_FROM_LE(l);
        if (l == 0 || l >= len - (v + 4) || d[v + 4 + l - 1] != 0)
            return bson_iter_next(it);
        d2 = v + 4;
        next = v + 4 + l;
        break;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        uint32_t l;
        if (v >= len || len - v <= 4)
            return bson_iter_next(it);
        memcpy(&l, d + v, 4);
        l = BSON_UINT32_FROM_LE(l);
        if (l >= len - v)
            return bson_iter_next(it);
        next = v + l;
        break;
    }
    default:
        return bson_iter_next(it);
    }
    if (next >= len)
        return bson_iter_next(it);
    it->off = o;
    it->type = o;
    it->key = k;
    it->d1 = v;
    it->d2 = d2;
    it->d3 = 0;
    it->d4 = 0;
    it->next_off = next;
    it->err_off = 0;
    return true;
}

/* bson_iter_recurse, inline: `child` iterates the document or array under
 * `it` (its length as the element says; cc_bson_next and libbson bound
 * every read by it). False for another type. */
static inline bool cc_bson_recurse(const bson_iter_t *it, bson_iter_t *child)
{
    uint8_t t = it->raw[it->type];
    if (t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY)
        return false;
    uint32_t l;
    memcpy(&l, it->raw + it->d1, 4);
    child->raw = it->raw + it->d1;
    child->len = BSON_UINT32_FROM_LE(l);
    child->off = 0;
    child->type = 0;
    child->key = 0;
    child->d1 = 0;
    child->d2 = 0;
    child->d3 = 0;
    child->d4 = 0;
    child->next_off = 4;
    child->err_off = 0;
    return true;
}

/* The current element's key length (bson_iter_key_len, inline). */
static inline uint32_t cc_bson_key_len(const bson_iter_t *it)
{
    return it->d1 - it->key - 1;
}

#endif
