/* SPDX-License-Identifier: Apache-2.0 */
/* Counting gRPC messages in a body stream, as Envoy's gRPC frame inspector does for the
 * grpc_stats filter whose counts Istio reports (istio_request_messages_total,
 * istio_response_messages_total). A message is a 5-byte prefix (a flags byte, 0 or 1 for
 * "compressed", then the payload length, 4 bytes big-endian) and the payload. The counter
 * takes chunks of any size, splits anywhere, and keeps no bytes: a few words of state per
 * direction. [W] */
#ifndef MESHLET_HTTP_GRPC_FRAMES_H
#define MESHLET_HTTP_GRPC_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A zeroed struct is a counter at the start of a stream. */
struct grpc_frames {
    uint64_t messages; /* messages begun so far */
    uint32_t skip;     /* the length being read from the prefix, then payload bytes to pass */
    uint8_t at;        /* prefix bytes read of the current message (0: none, or all of them) */
    bool broken;       /* a flags byte other than 0 or 1: not gRPC framing; counting stops */
};

/* Feed the next <n> bytes of the stream at <p>. A message counts when its flags byte
 * arrives, as Envoy's FrameInspector counts it, so a message cut short by a reset still
 * counts once. After a flags byte with other bits set (a stream that is not gRPC framed)
 * nothing more counts. */
void grpc_frames_feed(struct grpc_frames *f, const char *p, size_t n);

#endif
