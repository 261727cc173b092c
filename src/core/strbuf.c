/* SPDX-License-Identifier: Apache-2.0 */
/* String builder: amortised appends, a hard cap, JSON string escaping. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void
strbuf_init(struct strbuf *sb, size_t max_bytes)
{
    memset(sb, 0, sizeof(*sb));
    sb->max_bytes = max_bytes;
}

void
strbuf_fini(struct strbuf *sb)
{
    free(sb->data);
    memset(sb, 0, sizeof(*sb));
}

static bool
reserve(struct strbuf *sb, size_t more)
{
    if (sb->len + more + 1 > sb->max_bytes) {
        sb->truncated = true;
        return false;
    }
    xgrow((void **)&sb->data, &sb->cap, sb->len + more + 1, 1);
    return true;
}

void
strbuf_add(struct strbuf *sb, const char *s, size_t len)
{
    if (!reserve(sb, len)) return;
    memcpy(sb->data + sb->len, s, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void
strbuf_puts(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(sb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void
strbuf_json_str(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_add(sb, "\\\"", 2); break;
        case '\\': strbuf_add(sb, "\\\\", 2); break;
        case '\n': strbuf_add(sb, "\\n", 2); break;
        case '\r': strbuf_add(sb, "\\r", 2); break;
        case '\t': strbuf_add(sb, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                strbuf_printf(sb, "\\u%04x", *p);
            } else {
                strbuf_add(sb, (const char *)p, 1);
            }
        }
    }
    strbuf_add(sb, "\"", 1);
}

const char *
strbuf_str(const struct strbuf *sb)
{
    return sb->data ? sb->data : "";
}
