/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC message counting over a body stream: a small state machine over the 5-byte
 * length prefixes that skips payloads without looking at them. It owns no memory and
 * knows nothing of requests; req.c feeds it what moves each way. */
#include "http/grpc_frames.h"

#define GRPC_FLAG_COMPRESSED 0x01u /* the only flag gRPC defines */
#define GRPC_PREFIX 5

void
grpc_frames_feed(struct grpc_frames *f, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p, *end = s + n;
    while (s < end && !f->broken) {
        if (f->at) { /* a length byte, big-endian */
            f->skip = f->skip << 8 | *s++;
            if (++f->at == GRPC_PREFIX) f->at = 0; /* a zero-length message ends here */
        } else if (f->skip) { /* inside a payload: pass it whole, however long */
            size_t left = (size_t)(end - s);
            size_t k = f->skip < left ? f->skip : left;
            f->skip -= (uint32_t)k;
            s += k;
        } else if (*s & ~GRPC_FLAG_COMPRESSED) { /* Envoy: unknown flags end the inspection */
            f->broken = true;
        } else {
            f->messages++;
            f->at = 1;
            s++;
        }
    }
}
