/* SPDX-License-Identifier: Apache-2.0 */
/* Connection buffers. The hot path never allocates once a buffer has grown to its working
 * size: compaction moves the few pending bytes to the front instead. */
#include "core/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sys.h"

int
buf_init(struct buf *b, size_t initial, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->data = malloc(initial);
    if (!b->data) return -ENOMEM;
    b->cap = initial;
    b->max_bytes = max_bytes;
    return 0;
}

void
buf_init_empty(struct buf *b, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_bytes = max_bytes;
}

void
buf_attach(struct buf *b, void *block, size_t size)
{
    b->data = block;
    b->cap = size;
    b->rd = b->wr = 0;
}

void *
buf_detach(struct buf *b, size_t *size)
{
    void *p = b->data;
    *size = b->cap;
    b->data = NULL;
    b->cap = b->rd = b->wr = 0;
    return p;
}

void
buf_fini(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int
buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->wr >= n) return 0;
    if (b->rd) {
        memmove(b->data, b->data + b->rd, b->wr - b->rd);
        b->wr -= b->rd;
        b->rd = 0;
        if (b->cap - b->wr >= n) return 0;
    }
    size_t need = b->wr + n;
    if (need > b->max_bytes) return -ENOBUFS;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap *= 2;
    if (cap > b->max_bytes) cap = b->max_bytes;
    char *p = realloc(b->data, cap);
    if (!p) return -ENOBUFS;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->wr, p, n);
    b->wr += n;
    return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
    b->rd += n;
    if (b->rd == b->wr) b->rd = b->wr = 0;
}

ssize_t
buf_read_fd(struct buf *b, int fd)
{
    if (b->cap - b->wr < 4096 && buf_reserve(b, 4096)) return -ENOBUFS;
    ssize_t n = sys_recv(fd, b->data + b->wr, b->cap - b->wr);
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    b->wr += (size_t)n;
    return n;
}

ssize_t
buf_write_fd(struct buf *b, int fd)
{
    ssize_t n = sys_send(fd, b->data + b->rd, b->wr - b->rd, MSG_NOSIGNAL);
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    buf_consume(b, (size_t)n);
    return n;
}
