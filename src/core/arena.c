/* SPDX-License-Identifier: Apache-2.0 */
/* Arena allocation: a list of blocks; big requests get a block of their own. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

void
arena_init(struct arena *a, size_t block_bytes, bool abort_on_oom)
{
    memset(a, 0, sizeof(*a));
    a->block_bytes = block_bytes < 256 ? 256 : block_bytes;
    a->abort_on_oom = abort_on_oom;
}

void
arena_fini(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

static struct arena_block *
block_new(struct arena *a, size_t size)
{
    struct arena_block *b = malloc(sizeof(*b) + size);
    if (!b) {
        if (a->abort_on_oom) {
            fprintf(stderr, "meshlet: out of memory (arena block of %zu bytes)\n", size);
            abort();
        }
        return NULL;
    }
    b->size = size;
    b->used = 0;
    return b;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    if (size > SIZE_MAX - 64) return NULL;
    size = (size + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        if (size > a->block_bytes / 4) {
            /* A big allocation gets its own block behind the current one, so the
             * current block's free tail is not wasted. */
            struct arena_block *big = block_new(a, size);
            if (!big) return NULL;
            big->used = size;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                big->next = NULL;
                a->head = big;
            }
            a->used_bytes += size;
            memset(big->data, 0, size);
            return big->data;
        }
        b = block_new(a, a->block_bytes);
        if (!b) return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    a->used_bytes += size;
    memset(p, 0, size);
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
