/* SPDX-License-Identifier: Apache-2.0 */
/* struct slice: a borrowed run of bytes (a header name or value in a receive buffer), with
 * comparisons. Inline only. */
#ifndef MESHLET_CORE_SLICE_H
#define MESHLET_CORE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct slice {
    const char *ptr; /* borrowed: valid while the buffer it points into is unchanged */
    size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

static inline struct slice
slice_make(const char *ptr, size_t len)
{
    return (struct slice){ptr, len};
}

/* Byte-exact equality with NUL-terminated <s>. */
static inline bool
slice_eq(struct slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

static inline char
slice_lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* ASCII case-insensitive equality with NUL-terminated <s> (header names, codings). */
static inline bool
slice_ieq(struct slice a, const char *s)
{
    size_t n = strlen(s);
    if (a.len != n) return false;
    for (size_t i = 0; i < n; i++)
        if (slice_lower_ascii(a.ptr[i]) != slice_lower_ascii(s[i])) return false;
    return true;
}

/* Equality of two slices. */
static inline bool
slice_same(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* True when <a> starts with NUL-terminated <prefix>. */
static inline bool
slice_has_prefix(struct slice a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

#endif
