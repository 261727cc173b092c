/* SPDX-License-Identifier: Apache-2.0 */
/* The rollout status the dashboard shows: kept as POSTed by `meshlet rollout`, checked only
 * for being one JSON object (a strict RFC 8259 syntax check, no tree built), and served
 * back with its age so a page can tell a stale status from a live one. What the status
 * says belongs to rollout/; this file never looks inside it. */
#include "admin/rollout_view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct scan {
    const char *p, *end;
};

static void
skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool
eat(struct scan *s, char c)
{
    if (s->p == s->end || *s->p != c) return false;
    s->p++;
    return true;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
string(struct scan *s)
{
    if (!eat(s, '"')) return false;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"') return true;
        if (c < 0x20) return false; /* RFC 8259 §7: control characters must be escaped */
        if (c != '\\') continue;
        if (s->p == s->end) return false;
        char e = *s->p++;
        if (e == 'u') {
            for (int i = 0; i < 4; i++)
                if (s->p == s->end || !is_hex(*s->p++)) return false;
        } else if (!strchr("\"\\/bfnrt", e) || !e) {
            return false;
        }
    }
    return false;
}

static bool
digits(struct scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && is_digit(*s->p)) s->p++;
    return s->p > start;
}

static bool
number(struct scan *s)
{
    eat(s, '-');
    if (eat(s, '0')) {
        /* no leading zeros: "01" is two tokens, and the caller finds the second */
    } else if (!digits(s)) {
        return false;
    }
    if (eat(s, '.') && !digits(s)) return false;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (!eat(s, '+')) eat(s, '-');
        if (!digits(s)) return false;
    }
    return true;
}

static bool
word(struct scan *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n)) return false;
    s->p += n;
    return true;
}

static bool value(struct scan *s, int depth);

static bool
members(struct scan *s, int depth, bool object)
{
    char close = object ? '}' : ']';
    skip_ws(s);
    if (eat(s, close)) return true;
    for (;;) {
        if (object) {
            if (!string(s)) return false;
            skip_ws(s);
            if (!eat(s, ':')) return false;
            skip_ws(s);
        }
        if (!value(s, depth)) return false;
        skip_ws(s);
        if (eat(s, close)) return true;
        if (!eat(s, ',')) return false;
        skip_ws(s);
    }
}

static bool
value(struct scan *s, int depth)
{
    if (s->p == s->end) return false;
    switch (*s->p) {
    case '{':
    case '[':
        if (depth >= MAX_DEPTH) return false;
        return members(s, depth + 1, *s->p++ == '{');
    case '"': return string(s);
    case 't': return word(s, "true");
    case 'f': return word(s, "false");
    case 'n': return word(s, "null");
    default: return number(s);
    }
}

bool
rollout_view_is_object(struct slice body)
{
    struct scan s = {body.ptr, body.ptr + body.len};
    skip_ws(&s);
    if (s.p == s.end || *s.p != '{' || !value(&s, 0)) return false;
    skip_ws(&s);
    return s.p == s.end;
}

int
rollout_view_post(struct rollout_view *v, struct slice body, uint64_t at_ms)
{
    if (body.len > ROLLOUT_VIEW_MAX_BYTES) return -EMSGSIZE;
    if (!rollout_view_is_object(body)) return -EINVAL;
    char *copy = malloc(body.len + 1);
    if (!copy) return -ENOMEM;
    memcpy(copy, body.ptr, body.len);
    copy[body.len] = '\0';
    free(v->body);
    v->body = copy;
    v->len = body.len;
    v->at_ms = at_ms;
    return 0;
}

void
rollout_view_write(const struct rollout_view *v, uint64_t now_ms, struct strbuf *sb)
{
    if (!v->body) {
        strbuf_puts(sb, "{\"active\":false}\n");
        return;
    }
    uint64_t age_ms = now_ms > v->at_ms ? now_ms - v->at_ms : 0;
    /* the body is one object: insert the age after its opening brace */
    const char *brace = memchr(v->body, '{', v->len);
    const char *rest = brace + 1;
    while (*rest == ' ' || *rest == '\t' || *rest == '\n' || *rest == '\r') rest++;
    strbuf_printf(sb, "{\"age_s\":%" PRIu64 ".%03" PRIu64 "%s", age_ms / 1000, age_ms % 1000,
                  *rest == '}' ? "" : ",");
    strbuf_add(sb, rest, v->len - (size_t)(rest - v->body));
    strbuf_puts(sb, "\n");
}

void
rollout_view_fini(struct rollout_view *v)
{
    free(v->body);
    v->body = NULL;
    v->len = 0;
}
