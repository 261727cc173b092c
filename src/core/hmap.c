/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map: linear probing, load factor at most 1/2. No deletion (config maps
 * are built once and dropped whole). */
#include "core/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void
hmap_init(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void
hmap_fini(struct hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

uint64_t
hmap_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static struct hmap_slot *
find(const struct hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hmap_slot *s = &m->slots[i];
        if (!s->key) return s;
        if (s->hash == h && strcmp(s->key, key) == 0) return s;
    }
}

void *
hmap_get(const struct hmap *m, const char *key)
{
    if (!m->cap) return NULL;
    struct hmap_slot *s = find(m, key, hmap_hash(key));
    return s->key ? s->value : NULL;
}

static void
grow(struct hmap *m)
{
    size_t old_cap = m->cap;
    struct hmap_slot *old = m->slots;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key) *find(m, old[i].key, old[i].hash) = old[i];
    }
    free(old);
}

void *
hmap_put(struct hmap *m, const char *key, void *value)
{
    if ((m->len + 1) * 2 > m->cap) grow(m);
    uint64_t h = hmap_hash(key);
    struct hmap_slot *s = find(m, key, h);
    if (s->key) {
        void *prev = s->value;
        s->value = value;
        return prev;
    }
    s->key = key;
    s->hash = h;
    s->value = value;
    m->len++;
    return NULL;
}
