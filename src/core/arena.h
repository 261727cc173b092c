/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator: many small allocations freed together (a config load, a request). */
#ifndef MESHLET_CORE_ARENA_H
#define MESHLET_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head; /* owned: newest block first */
    size_t block_bytes;       /* size of a regular block */
    size_t used_bytes;        /* sum of every allocation, for reports */
    bool abort_on_oom;        /* boot-time arenas abort; request arenas return NULL */
};

/* Prepare <a> with blocks of <block_bytes>; allocates nothing yet. */
void arena_init(struct arena *a, size_t block_bytes, bool abort_on_oom);

/* Free every block. A zeroed or finished arena is a no-op. */
void arena_fini(struct arena *a);

/* Zeroed, 16-byte aligned memory that lives until arena_fini(). NULL on OOM (when allowed). */
void *arena_alloc(struct arena *a, size_t size);

/* NUL-terminated copy of <len> bytes at <s>. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Copy of NUL-terminated <s>. */
char *arena_strdup(struct arena *a, const char *s);

/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
