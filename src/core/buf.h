/* SPDX-License-Identifier: Apache-2.0 */
/* Linear connection buffer: bytes [rd, wr) are pending; space after wr takes new data.
 * Grows up to a hard cap set at init. */
#ifndef MESHLET_CORE_BUF_H
#define MESHLET_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf {
    char *data; /* owned */
    size_t rd, wr, cap;
    size_t max_bytes; /* hard cap */
};

/* Empty buffer of <initial> bytes that may grow to <max_bytes>. 0 or -ENOMEM. */
int buf_init(struct buf *b, size_t initial, size_t max_bytes);

/* A buffer with no storage yet (idle connections hold none): the first reserve takes
 * storage from buf_attach() or, failing that, malloc. */
void buf_init_empty(struct buf *b, size_t max_bytes);

/* Give an empty buffer <block> of <size> bytes as its storage (owned from now on). */
void buf_attach(struct buf *b, void *block, size_t size);

/* Take the storage back from an empty buffer (NULL when it has none); *size is its size. */
void *buf_detach(struct buf *b, size_t *size);
void buf_fini(struct buf *b);

static inline size_t
buf_len(const struct buf *b)
{
    return b->wr - b->rd;
}

static inline bool
buf_empty(const struct buf *b)
{
    return b->wr == b->rd;
}

static inline char *
buf_head(const struct buf *b)
{
    return b->data + b->rd;
}

/* Make room for <n> more bytes (compacting, then growing within the cap). 0 or -ENOBUFS. */
int buf_reserve(struct buf *b, size_t n);

/* Append <n> bytes. 0 or -ENOBUFS. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Drop <n> bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* recv() once from a socket into the free space (after making room); bytes read, 0 at
 * EOF, -EAGAIN, or -errno. */
ssize_t buf_read_fd(struct buf *b, int fd);

/* write() the pending bytes once; bytes written, -EAGAIN or -errno. */
ssize_t buf_write_fd(struct buf *b, int fd);

#endif
