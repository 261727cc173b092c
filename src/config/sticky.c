/* SPDX-License-Identifier: Apache-2.0 */
/* The meshlet.io/sticky-split annotation: its grammar, its checks against the
 * VirtualService's http routes, and the lookup per route. What a key does to a request
 * (hash, interval pick) belongs to lb/split.c; reading it from a request to model/route.c.
 *
 *   value := item ("," item)*          spaces around items are ignored
 *   item  := [ROUTE "="] SOURCE ":" NAME
 *   SOURCE := "header" | "cookie"      NAME: an RFC 9110 token
 *
 * An item without ROUTE applies to every weighted http route the others do not name. */
#include "config/sticky.h"

#include <ctype.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/diag.h"
#include "config/field.h"
#include "config/resource.h"
#include "core/arena.h"

#define STICKY_PATH "metadata.annotations[" STICKY_ANNOTATION "]"
#define STICKY_HINT                                                                                \
    "write header:NAME or cookie:NAME for every weighted route, or ROUTE=header:NAME items "       \
    "separated by commas"

/* Where messages go and how to point into the value. */
struct parse {
    struct diag_list *dl;
    const struct resource *r;
    struct fy_node *node; /* the annotation's value */
    const char *value;
    bool failed;
};

/* The column of byte <off> of the value, when the value stands on one line as written
 * (plain, or quoted without escapes); 0 when it does not. */
static unsigned
column_of(const struct parse *p, size_t off)
{
    struct fy_token *t = fy_node_get_scalar_token(p->node);
    const struct fy_mark *s = t ? fy_token_start_mark(t) : NULL;
    const struct fy_mark *e = t ? fy_token_end_mark(t) : NULL;
    if (!s || !e || s->line != e->line) return 0;
    size_t raw = (size_t)(e->column - s->column), len = strlen(p->value);
    enum fy_node_style st = fy_node_get_style(p->node);
    bool quoted = st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED;
    /* The token's marks may include the quotes or not: either way, one byte per byte. */
    if (st != FYNS_PLAIN && !quoted) return 0;
    if (raw == len) return (unsigned)(s->column + 1 + (int)off);
    if (quoted && raw == len + 2) return (unsigned)(s->column + 2 + (int)off);
    return 0;
}

static void report(struct parse *p, enum diag_severity sev, size_t off, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(struct parse *p, enum diag_severity sev, size_t off, const char *hint, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t before = p->dl->len;
    struct diag *d =
        field_report(p->dl, p->r, p->node, STICKY_PATH, NULL, -1, sev,
                     sev == DIAG_ERROR ? DIAG_SCHEMA_ERROR : DIAG_SCHEMA_WARNING, hint, "%s", msg);
    unsigned col = column_of(p, off);
    if (p->dl->len > before && col) d->col = col; /* a new message, not one merged into */
    if (sev == DIAG_ERROR) p->failed = true;
}

/* RFC 9110 §5.6.2 tchar. */
static bool
tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parse SOURCE ":" NAME at [<off>, <off> + <len>) of the value into <k>. */
static void
parse_key(struct parse *p, struct arena *a, size_t off, size_t len, struct sticky_key *k)
{
    const char *s = p->value + off;
    const char *colon = memchr(s, ':', len);
    size_t slen = colon ? (size_t)(colon - s) : len;
    if (slen == 6 && !memcmp(s, "header", 6)) {
        k->source = STICKY_HEADER;
    } else if (slen == 6 && !memcmp(s, "cookie", 6)) {
        k->source = STICKY_COOKIE;
    } else {
        report(p, DIAG_ERROR, off, STICKY_HINT,
               "unknown user key source \"%.*s\" in \"%.*s\": the source is header or cookie",
               (int)slen, s, (int)len, s);
        return;
    }
    const char *what = k->source == STICKY_HEADER ? "header" : "cookie";
    if (!colon || slen + 1 == len) {
        report(p, DIAG_ERROR, off + slen, "name the header or cookie after the colon",
               "empty %s name in \"%.*s\"", what, (int)len, s);
        return;
    }
    const char *name = colon + 1;
    size_t nlen = len - slen - 1;
    for (size_t i = 0; i < nlen; i++) {
        if (tchar(name[i])) continue;
        /* A byte that would not print (a control, part of UTF-8) is shown by its value;
         * a name with a control in it is not printed at all. */
        unsigned char c = (unsigned char)name[i];
        char shown[16];
        snprintf(shown, sizeof(shown), c >= ' ' && c < 0x7f ? "'%c'" : "byte 0x%02x", c);
        bool printable = true;
        for (size_t j = 0; j < nlen; j++) printable &= (unsigned char)name[j] >= ' ';
        const char *hint = "a header or cookie name has letters, digits and !#$%&'*+-.^_`|~ only";
        if (printable)
            report(p, DIAG_ERROR, off + slen + 1 + i, hint,
                   "%s name \"%.*s\" has a character not allowed in a %s name: %s", what, (int)nlen,
                   name, what, shown);
        else
            report(p, DIAG_ERROR, off + slen + 1 + i, hint,
                   "%s name has a character not allowed in a %s name: %s", what, what, shown);
        return;
    }
    char *n = arena_strndup(a, name, nlen);
    if (k->source == STICKY_HEADER)
        for (char *c = n; *c; c++) *c = (char)tolower((unsigned char)*c);
    k->name = n;
}

static const struct http_route *
route_named(const struct virtual_service *vs, const char *name)
{
    for (size_t i = 0; i < vs->http_len; i++)
        if (vs->http[i].name && !strcmp(vs->http[i].name, name)) return &vs->http[i];
    return NULL;
}

/* A route that splits between destinations (its delegate's routes are the delegate's). */
static bool
weighted(const struct http_route *h)
{
    return !h->delegate && !h->redirect && !h->direct_response && h->route_len > 1;
}

/* Check every entry against the VirtualService's routes; <offs> are the entries' offsets. */
static void
check_routes(struct parse *p, const struct sticky_split *s, const size_t *offs)
{
    const struct virtual_service *vs = p->r->spec.vs;
    for (size_t i = 0; i < s->n; i++) {
        const struct sticky_entry *e = &s->entries[i];
        if (!e->route) {
            bool any = false;
            for (size_t j = 0; j < vs->http_len && !any; j++) any = weighted(&vs->http[j]);
            if (!any)
                report(p, DIAG_WARNING, offs[i],
                       "remove the annotation, or give a route two "
                       "destinations",
                       "no http route of this VirtualService has several destinations: "
                       "the sticky split applies to none");
            continue;
        }
        const struct http_route *h = route_named(vs, e->route);
        if (!h) {
            report(p, DIAG_ERROR, offs[i],
                   "use the name: of one of the VirtualService's http routes",
                   "no http route named \"%s\" in this VirtualService", e->route);
        } else if (!weighted(h)) {
            report(p, DIAG_WARNING, offs[i],
                   h->delegate ? "annotate the delegate VirtualService instead"
                               : "give the route two destinations, or remove its item",
                   "http route \"%s\" %s: its item has no effect", e->route,
                   h->delegate ? "delegates (its routes follow the delegate's annotation)"
                               : "does not split between destinations");
        }
    }
}

/* Spaces, and the line breaks a YAML block scalar (| or >) leaves. */
static bool
blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
skip_space(const char *v, size_t i, size_t end)
{
    while (i < end && blank(v[i])) i++;
    return i;
}

static size_t
trim_end(const char *v, size_t start, size_t end)
{
    while (end > start && blank(v[end - 1])) end--;
    return end;
}

static void
parse_value(struct parse *p, struct arena *a, struct sticky_split *s, size_t *offs)
{
    const char *v = p->value;
    size_t len = strlen(v), pos = 0;
    bool bare = false;
    for (;;) {
        const char *comma = memchr(v + pos, ',', len - pos);
        size_t end = comma ? (size_t)(comma - v) : len;
        size_t i = skip_space(v, pos, end), j = trim_end(v, i, end);
        if (i == j) {
            report(p, DIAG_ERROR, i, STICKY_HINT, "empty item in \"%s\"", v);
            return;
        }
        struct sticky_entry *e = &s->entries[s->n];
        const char *eq = memchr(v + i, '=', j - i);
        const char *colon = memchr(v + i, ':', j - i);
        size_t key_at = i;
        if (eq && (!colon || eq < colon)) {
            size_t re = trim_end(v, i, (size_t)(eq - v));
            if (re == i) {
                report(p, DIAG_ERROR, i, "write the route's name before '='",
                       "empty route name in \"%.*s\"", (int)(j - i), v + i);
                return;
            }
            e->route = arena_strndup(a, v + i, re - i);
            key_at = skip_space(v, (size_t)(eq - v) + 1, j);
            for (size_t k = 0; k < s->n; k++) {
                if (s->entries[k].route && !strcmp(s->entries[k].route, e->route)) {
                    report(p, DIAG_ERROR, i, "name each route once", "route \"%s\" is named twice",
                           e->route);
                    return;
                }
            }
        } else if (bare) {
            report(p, DIAG_ERROR, i, "prefix all but one item with ROUTE=",
                   "more than one item without a route name in \"%s\"", v);
            return;
        } else {
            bare = true;
        }
        parse_key(p, a, key_at, j - key_at, &e->key);
        if (p->failed) return;
        offs[s->n++] = i;
        if (!comma) return;
        pos = end + 1;
    }
}

void
sticky_decode(struct arena *a, struct diag_list *dl, struct resource *r)
{
    r->sticky = NULL;
    struct fy_node *md = field_node(r->root, "metadata", -1);
    struct fy_node *node = field_node(field_node(md, "annotations", -1), STICKY_ANNOTATION, -1);
    if (!node || !r->spec.vs) return;
    struct parse p = {dl, r, node, NULL, false};
    p.value = field_scalar(a, node);
    if (!p.value) {
        p.value = "";
        report(&p, DIAG_ERROR, 0, STICKY_HINT, "the annotation's value must be a string");
        return;
    }
    size_t n = 1;
    for (const char *c = p.value; *c; c++) n += *c == ',';
    struct sticky_split *s = arena_alloc(a, sizeof(*s));
    s->entries = arena_alloc(a, n * sizeof(*s->entries));
    size_t *offs = arena_alloc(a, n * sizeof(*offs));
    parse_value(&p, a, s, offs);
    if (p.failed) return;
    check_routes(&p, s, offs);
    if (!p.failed) r->sticky = s;
}

const struct sticky_key *
sticky_for_route(const struct sticky_split *s, const char *route)
{
    const struct sticky_key *any = NULL;
    for (size_t i = 0; s && i < s->n; i++) {
        const struct sticky_entry *e = &s->entries[i];
        if (!e->route)
            any = &e->key;
        else if (route && !strcmp(e->route, route))
            return &e->key;
    }
    return any;
}

const char *
sticky_source_name(enum sticky_source source)
{
    switch (source) {
    case STICKY_HEADER: return "header";
    case STICKY_COOKIE: return "cookie";
    default: return "none";
    }
}
