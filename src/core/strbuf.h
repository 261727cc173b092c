/* SPDX-License-Identifier: Apache-2.0 */
/* Growable string builder with a hard cap (diagnostic output, JSON, admin pages). */
#ifndef MESHLET_CORE_STRBUF_H
#define MESHLET_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *data; /* owned, always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    size_t max_bytes; /* hard cap; appends past it set <truncated> */
    bool truncated;
};

/* Prepare an empty builder capped at <max_bytes>. */
void strbuf_init(struct strbuf *sb, size_t max_bytes);

/* Free the buffer; a zeroed struct is a no-op. */
void strbuf_fini(struct strbuf *sb);

/* Append bytes, a string, formatted text. Past the cap, the tail is dropped. */
void strbuf_add(struct strbuf *sb, const char *s, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append <s> as a JSON string literal, quotes included. */
void strbuf_json_str(struct strbuf *sb, const char *s);

/* The same into <out> (<cap> bytes, NUL-terminated; at most 6 bytes per input byte + 3
 * needed, a longer input is cut). Returns the length written. No allocation. */
size_t strbuf_json_quote(char *out, size_t cap, const char *s);

/* The text so far ("" when empty); valid until the next append. */
const char *strbuf_str(const struct strbuf *sb);

#endif
