/* SPDX-License-Identifier: Apache-2.0 */
/* See h2_mem.h. The buffer is the only allocation of 8 KiB or more that nghttp2 makes while
 * a session is made (session 3 KiB, HPACK tables 1 KiB each, stream map 4 KiB); any later
 * large allocation (a CONTINUATION chain, a big inbound frame) is plain malloc. [W] */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http/h2_mem.h"

#define H2_MEM_FRAMES_MIN 8192

static size_t
page_size(void)
{
    static size_t page;
    if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

static void *
mem_malloc(size_t size, void *ud)
{
    struct h2_mem *m = ud;
    if (!m->catching || m->frames || size < H2_MEM_FRAMES_MIN) return malloc(size);
    size_t page = page_size();
    size_t len = (size + page - 1) / page * page;
    void *p = aligned_alloc(page, len);
    if (p) {
        m->frames = p;
        m->frames_len = len;
    }
    return p;
}

static void
mem_free(void *p, void *ud)
{
    struct h2_mem *m = ud;
    if (p && p == m->frames) m->frames = NULL;
    free(p);
}

static void *
mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return calloc(n, size);
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
    struct h2_mem *m = ud;
    if (!p) return mem_malloc(size, ud); /* how nghttp2's buffers get their memory */
    if (p != m->frames) return realloc(p, size);
    if (size <= m->frames_len) return p;
    void *q = realloc(p, size); /* no longer on pages of its own: not tracked */
    if (q) m->frames = NULL;
    return q;
}

void
h2_mem_init(struct h2_mem *m)
{
    *m = (struct h2_mem){.mem = {m, mem_malloc, mem_free, mem_calloc, mem_realloc}};
}

void
h2_mem_catch(struct h2_mem *m, bool on)
{
    m->catching = on;
    if (on) m->dirty = true; /* the session writes its SETTINGS at once */
}

bool
h2_mem_shed(struct h2_mem *m)
{
    if (!m->frames || !m->dirty) return false;
    if (madvise(m->frames, m->frames_len, MADV_DONTNEED)) return false;
    m->dirty = false;
    return true;
}
