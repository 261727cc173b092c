/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 decoding of protobuf `bytes` fields as YAML/JSON carries them. */
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

#endif
