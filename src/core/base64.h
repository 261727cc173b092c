/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 as protobuf's JSON mapping carries `bytes` fields (YAML/JSON config, etcd's JSON
 * gateway). */
#ifndef MESHLET_CORE_BASE64_H
#define MESHLET_CORE_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* Bytes that decoding <len> characters can produce at most. */
static inline size_t
base64_decoded_max(size_t len)
{
    return (len + 3) / 4 * 3;
}

/* Decode <in> into <out> (room for base64_decoded_max(len) bytes). Accepts the standard and
 * the URL-safe alphabet, with or without '=' padding, as protobuf's JSON mapping does.
 * Returns the decoded length, or -1 when <in> is not base64. [A] */
ssize_t base64_decode(const char *in, size_t len, unsigned char *out);

/* Characters encoding <len> bytes takes (padded), without the NUL. */
static inline size_t
base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

/* Encode <len> bytes of <in> into <out> (room for base64_encoded_len(len) + 1), standard
 * alphabet, padded, NUL-terminated. Returns the length written. [A] */
size_t base64_encode(const void *in, size_t len, char *out);

#endif
