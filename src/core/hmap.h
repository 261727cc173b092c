/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing hash map from NUL-terminated string keys to pointers. */
#ifndef MESHLET_CORE_HMAP_H
#define MESHLET_CORE_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
    const char *key; /* borrowed: the caller keeps keys alive as long as the map */
    uint64_t hash;
    void *value; /* borrowed */
};

struct hmap {
    struct hmap_slot *slots; /* owned; power-of-two count */
    size_t cap;
    size_t len;
};

/* Empty map; allocates on first insert. */
void hmap_init(struct hmap *m);

/* Free the slot array (not keys or values). Zeroed map is a no-op. */
void hmap_fini(struct hmap *m);

/* Value for <key>, or NULL when absent. */
void *hmap_get(const struct hmap *m, const char *key);

/* Set <key> to <value>, replacing any previous value; returns the previous value or NULL.
 * Boot/config time only: grows with xmalloc. */
void *hmap_put(struct hmap *m, const char *key, void *value);

/* FNV-1a 64 of <key>, exposed for callers that shard by key. */
uint64_t hmap_hash(const char *key);

#endif
