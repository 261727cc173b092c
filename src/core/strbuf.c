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

size_t
strbuf_json_quote(char *out, size_t cap, const char *s)
{
    if (cap < 3) return 0;
    size_t n = 0;
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = *p == '"'    ? "\\\""
                          : *p == '\\' ? "\\\\"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                          : *p == '\t' ? "\\t"
                                       : NULL;
        size_t need = esc ? 2 : *p < 0x20 ? 6 : 1;
        if (n + need + 2 > cap) break; /* room for the closing quote and the NUL */
        if (esc)
            memcpy(out + n, esc, 2);
        else if (*p < 0x20)
            snprintf(out + n, 7, "\\u%04x", *p);
        else
            out[n] = (char)*p;
        n += need;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

void
strbuf_json_str(struct strbuf *sb, const char *s)
{
    size_t cap = strlen(s) * 6 + 3;
    if (sb->len + cap > sb->max_bytes) cap = sb->max_bytes > sb->len ? sb->max_bytes - sb->len : 0;
    if (cap < 3 || !reserve(sb, cap)) {
        sb->truncated = true;
        return;
    }
    sb->len += strbuf_json_quote(sb->data + sb->len, cap, s);
}

const char *
strbuf_str(const struct strbuf *sb)
{
    return sb->data ? sb->data : "";
}
