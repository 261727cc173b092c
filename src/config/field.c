/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven decoding: walks a YAML mapping against a schema, converts scalars to typed
 * values (ints with range checks, Go durations, enums, percents), copies strings into the
 * resource arena, and reports unknown fields and type errors as IST0106 at file:line:col
 * with the field path. Also the shared message tables and enum name tables. Semantic rules
 * (ranges that Istio checks, cross-field rules) belong to the per-kind validators. */
#include "config/field.h"

#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"

const char *const redirect_port_selection_names[] = {"FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT",
                                                     NULL};
const char *const unmatched_preflights_names[] = {"UNSPECIFIED", "FORWARD", "IGNORE", NULL};
const char *const lb_simple_names[] = {"UNSPECIFIED", "LEAST_CONN",    "RANDOM", "PASSTHROUGH",
                                       "ROUND_ROBIN", "LEAST_REQUEST", NULL};
const char *const h2_upgrade_policy_names[] = {"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL};
const char *const client_tls_mode_names[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};
const char *const proxy_protocol_version_names[] = {"V1", "V2", NULL};
const char *const server_tls_mode_names[] = {
    "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL", NULL};
const char *const tls_protocol_names[] = {"TLS_AUTO", "TLSV1_0", "TLSV1_1",
                                          "TLSV1_2",  "TLSV1_3", NULL};
const char *const se_location_names[] = {"MESH_EXTERNAL", "MESH_INTERNAL", NULL};
const char *const se_resolution_names[] = {"NONE",        "STATIC", "DNS", "DNS_ROUND_ROBIN",
                                           "DYNAMIC_DNS", NULL};
const char *const mtls_mode_names[] = {"UNSET", "DISABLE", "PERMISSIVE", "STRICT", NULL};

/* Messages shared by several kinds. */
FIELD_SCHEMA(string_match, RES_STRING_MATCH)
FIELD_SCHEMA(port_selector, RES_PORT_SELECTOR)
FIELD_SCHEMA(destination, RES_DESTINATION)
FIELD_SCHEMA(workload_selector, RES_WORKLOAD_SELECTOR)
FIELD_SCHEMA(se_workload_selector, RES_SE_WORKLOAD_SELECTOR)
FIELD_SCHEMA(service_port, RES_SERVICE_PORT)
FIELD_SCHEMA(workload_entry, RES_WORKLOAD_ENTRY)

static void
mark_down(struct fy_node *node, unsigned *line, unsigned *col)
{
    *line = *col = 0;
    for (int guard = 0; node && guard < 128; guard++) {
        switch (fy_node_get_type(node)) {
        case FYNT_SCALAR: {
            struct fy_token *t = fy_node_get_scalar_token(node);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            if (m) {
                *line = (unsigned)m->line + 1;
                *col = (unsigned)m->column + 1;
            }
            return;
        }
        case FYNT_MAPPING: {
            void *it = NULL;
            struct fy_node_pair *p = fy_node_mapping_iterate(node, &it);
            node = p ? fy_node_pair_key(p) : NULL;
            break;
        }
        case FYNT_SEQUENCE: {
            void *it = NULL;
            node = fy_node_sequence_iterate(node, &it);
            break;
        }
        }
    }
}

void
field_mark(struct fy_node *node, unsigned *line, unsigned *col)
{
    mark_down(node, line, col);
    /* An empty mapping or sequence has no token of its own: use the key that holds it. */
    for (int guard = 0; !*line && node && guard < 64; guard++) {
        struct fy_node *parent = fy_node_get_parent(node);
        if (parent && fy_node_get_type(parent) == FYNT_MAPPING) {
            void *it = NULL;
            struct fy_node_pair *p;
            while ((p = fy_node_mapping_iterate(parent, &it))) {
                if (fy_node_pair_value(p) == node) {
                    mark_down(fy_node_pair_key(p), line, col);
                    break;
                }
            }
        }
        node = parent;
        if (!*line && node) mark_down(node, line, col);
    }
}

struct fy_node *
field_node(struct fy_node *obj, const char *key, int index)
{
    if (!obj || fy_node_get_type(obj) != FYNT_MAPPING) return NULL;
    struct fy_node *n = key ? fy_node_mapping_lookup_by_string(obj, key, FY_NT) : obj;
    if (n && index >= 0) {
        if (fy_node_get_type(n) == FYNT_SEQUENCE) return fy_node_sequence_get_by_index(n, index);
        return NULL;
    }
    return n;
}

/* The key node of <key> in <obj>, for pointing at a key (unknown field). */
static struct fy_node *
key_node(struct fy_node *obj, const char *key)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(obj, &it))) {
        const char *k = fy_node_get_scalar0(fy_node_pair_key(p));
        if (k && strcmp(k, key) == 0) return fy_node_pair_key(p);
    }
    return NULL;
}

void
field_attach(struct diag *d, const struct resource *res, struct fy_node *node)
{
    if (res) {
        d->kind = res->kind_name;
        d->ns = res->ns;
        d->name = res->name;
        d->file = res->file;
    }
    field_mark(node, &d->line, &d->col);
    if (!d->line && res && res->doc_live) field_mark(res->root, &d->line, &d->col);
}

static struct diag *
vreport(struct diag_list *dl, const struct resource *res, struct fy_node *at, const char *path,
        enum diag_severity sev, const char *code, const char *hint, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct diag *d = diag_add(dl, sev, code, path, hint, "%s", msg);
    field_attach(d, res, at);
    return d;
}

struct diag *
field_report(struct diag_list *dl, const struct resource *res, struct fy_node *obj_node,
             const char *obj_path, const char *key, int index, enum diag_severity sev,
             const char *code, const char *hint, const char *fmt, ...)
{
    char path[512];
    if (key && index >= 0) {
        snprintf(path, sizeof(path), "%s%s%s[%d]", obj_path, *obj_path ? "." : "", key, index);
    } else if (key) {
        snprintf(path, sizeof(path), "%s%s%s", obj_path, *obj_path ? "." : "", key);
    } else {
        snprintf(path, sizeof(path), "%s", obj_path);
    }
    /* One error per field: a value that failed to decode is absent, and a rule that then
     * finds it missing must not report the same field again. */
    if (sev == DIAG_ERROR) {
        for (size_t i = dl->len; i-- > 0;) {
            struct diag *prev = &dl->items[i];
            if (!res || prev->name != res->name || prev->kind != res->kind_name) break;
            if (prev->severity == DIAG_ERROR && !strcmp(prev->path, path)) return prev;
        }
    }
    if (res && !res->doc_live) {
        /* The document is gone: keep the path, find the position later. */
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        struct diag *d = diag_add(dl, sev, code, path, hint, "%s", msg);
        d->kind = res->kind_name;
        d->ns = res->ns;
        d->name = res->name;
        d->file = res->file;
        d->pending = true;
        d->doc_index = res->doc_index;
        d->item_index = res->item_index;
        return d;
    }
    struct fy_node *at = field_node(obj_node, key, index);
    if (!at && key) at = field_node(obj_node, key, -1);
    if (!at) at = obj_node;
    va_list ap;
    va_start(ap, fmt);
    struct diag *d = vreport(dl, res, at, path, sev, code, hint, fmt, ap);
    va_end(ap);
    return d;
}

static void decode_error(struct field_ctx *fc, struct fy_node *at, const char *path,
                         const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
decode_error(struct field_ctx *fc, struct fy_node *at, const char *path, const char *hint,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fc->dl, fc->res, at, path, DIAG_ERROR, DIAG_SCHEMA_ERROR, hint, fmt, ap);
    va_end(ap);
}

const char *
field_scalar(struct arena *a, struct fy_node *node)
{
    if (!node || fy_node_get_type(node) != FYNT_SCALAR) return NULL;
    size_t len;
    const char *s = fy_node_get_scalar(node, &len);
    if (!s) return NULL;
    return arena_strndup(a, s, len);
}

const char *
field_text(struct fy_node *node, size_t *len)
{
    if (!node || fy_node_get_type(node) != FYNT_SCALAR || fy_node_is_alias(node)) return NULL;
    return fy_node_get_scalar(node, len);
}

/* YAML null: absent, `~`, `null`, or an empty plain scalar. */
static bool
is_null(struct fy_node *n)
{
    if (!n) return true;
    if (fy_node_get_type(n) != FYNT_SCALAR) return false;
    if (fy_node_get_style(n) != FYNS_PLAIN) return false;
    size_t len;
    const char *s = fy_node_get_scalar(n, &len);
    if (!s || len == 0) return true;
    return (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

bool
field_is_null(const void *obj)
{
    return ((const struct res_obj *)obj)->is_null;
}

static const char *
type_name(struct fy_node *n)
{
    switch (fy_node_get_type(n)) {
    case FYNT_MAPPING: return "a mapping";
    case FYNT_SEQUENCE: return "a list";
    default: return "a scalar";
    }
}

static bool
expect_type(struct field_ctx *fc, struct fy_node *n, enum fy_node_type t, const char *path,
            const char *want)
{
    if (fy_node_get_type(n) == t) return true;
    char hint[160];
    snprintf(hint, sizeof(hint), "write %s here", want);
    decode_error(fc, n, path, hint, "invalid type: got %s, expected %s", type_name(n), want);
    return false;
}

static bool
parse_int(const char *s, int64_t *out)
{
    if (!*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

int
field_parse_duration(const char *s, int64_t *ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*p) return -EINVAL;
    double total = 0;
    while (*p) {
        const char *start = p;
        while ((*p >= '0' && *p <= '9') || *p == '.') p++;
        if (p == start || (p - start == 1 && *start == '.')) return -EINVAL;
        char num[64];
        size_t n = (size_t)(p - start);
        if (n >= sizeof(num)) return -EINVAL;
        memcpy(num, start, n);
        num[n] = '\0';
        if (strchr(num, '.') != strrchr(num, '.')) return -EINVAL;
        double v = strtod(num, NULL);
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, ul) == 0 && ul > best_len) {
                best = i;
                best_len = ul;
            }
        }
        if (!best_len) return -EINVAL;
        p += best_len;
        total += v * units[best].ns;
    }
    if (total > 9.2e18) return -ERANGE;
    *ns = (int64_t)llround(neg ? -total : total);
    return 0;
}

static void decode_value(struct field_ctx *fc, const struct field_desc *f, struct fy_node *v,
                         const char *path, void *slot, void *base);

static const char *
child_path(struct field_ctx *fc, const char *path, const char *key)
{
    return arena_printf(fc->arena, "%s%s%s", path, *path ? "." : "", key);
}

static void *
decode_items(struct field_ctx *fc, const struct schema *s, struct fy_node *seq, const char *path,
             size_t *n_out)
{
    int n = fy_node_sequence_item_count(seq);
    *n_out = 0;
    if (n <= 0) return NULL;
    char *items = arena_alloc(fc->arena, (size_t)n * s->size);
    void *it = NULL;
    struct fy_node *item;
    size_t i = 0;
    while ((item = fy_node_sequence_iterate(seq, &it))) {
        const char *ip = arena_printf(fc->arena, "%s[%zu]", path, i);
        void *dst = items + i * s->size;
        if (is_null(item)) {
            /* Kept as an empty element: validators report "may not be null". */
            ((struct res_obj *)dst)->path = ip;
            ((struct res_obj *)dst)->node = item;
            ((struct res_obj *)dst)->is_null = true;
        } else {
            field_decode(fc, s, item, ip, dst);
        }
        i++;
    }
    *n_out = i;
    return items;
}

static double
closeness(const char *a, const char *b)
{
    /* Levenshtein distance, case-insensitive, for "did you mean" hints. */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    unsigned d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = (a[i - 1] | 32) == (b[j - 1] | 32) ? 0 : 1;
            unsigned m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m) m = d[i - 1][j - 1] + cost;
            d[i][j] = m;
        }
    }
    return d[la][lb];
}

static void
unknown_field(struct field_ctx *fc, const struct schema *s, struct fy_node *obj, const char *key,
              const char *path)
{
    const char *best = NULL;
    double best_d = 4;
    for (size_t i = 0; i < s->n_fields; i++) {
        double d = closeness(key, s->fields[i].json);
        if (d < best_d) {
            best_d = d;
            best = s->fields[i].json;
        }
    }
    char hint[512];
    if (best) {
        snprintf(hint, sizeof(hint), "did you mean \"%s\"?", best);
    } else {
        size_t n = (size_t)snprintf(hint, sizeof(hint), "remove it; the fields here are:");
        for (size_t i = 0; i < s->n_fields && n < sizeof(hint); i++)
            n += (size_t)snprintf(hint + n, sizeof(hint) - n, "%s %s", i ? "," : "",
                                  s->fields[i].json);
    }
    decode_error(fc, key_node(obj, key), child_path(fc, path, key), hint, "unknown field \"%s\"",
                 key);
}

int
field_decode(struct field_ctx *fc, const struct schema *s, struct fy_node *node, const char *path,
             void *out)
{
    size_t before = fc->dl->errors;
    struct res_obj *ro = out;
    ro->node = node;
    ro->path = path;
    if (!expect_type(fc, node, FYNT_MAPPING, path, "a mapping")) {
        ro->is_null = true;
        return 1;
    }
    if (++fc->depth > 48) {
        decode_error(fc, node, path, "flatten the document", "nesting too deep");
        fc->depth--;
        return 1;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(node, &it))) {
        const char *key = fy_node_get_scalar0(fy_node_pair_key(p));
        if (!key) {
            decode_error(fc, fy_node_pair_key(p), path, "write the key as a plain string",
                         "mapping keys must be strings");
            continue;
        }
        const struct field_desc *f = NULL;
        for (size_t i = 0; i < s->n_fields; i++) {
            if (!strcmp(s->fields[i].json, key) || !strcmp(s->fields[i].proto, key)) {
                f = &s->fields[i];
                break;
            }
        }
        if (!f) {
            unknown_field(fc, s, node, key, path);
            continue;
        }
        struct fy_node *v = fy_node_pair_value(p);
        if (is_null(v)) continue; /* jsonpb: null means unset */
        decode_value(fc, f, v, child_path(fc, path, f->json), (char *)out + f->off, out);
    }
    fc->depth--;
    return (int)(fc->dl->errors - before);
}

void *
field_decode_new(struct field_ctx *fc, const struct schema *s, struct fy_node *node,
                 const char *path)
{
    if (is_null(node)) return NULL;
    void *out = arena_alloc(fc->arena, s->size);
    field_decode(fc, s, node, path, out);
    return out;
}

static void
decode_str_map(struct field_ctx *fc, struct fy_node *v, const char *path, struct str_map *m)
{
    if (!expect_type(fc, v, FYNT_MAPPING, path, "a mapping of strings")) return;
    int n = fy_node_mapping_item_count(v);
    if (n <= 0) return;
    m->keys = arena_alloc(fc->arena, (size_t)n * sizeof(char *));
    m->vals = arena_alloc(fc->arena, (size_t)n * sizeof(char *));
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it))) {
        const char *k = field_scalar(fc->arena, fy_node_pair_key(p));
        struct fy_node *val = fy_node_pair_value(p);
        if (!k) continue;
        if (val && fy_node_get_type(val) != FYNT_SCALAR) {
            decode_error(fc, val, child_path(fc, path, k), "write the value as a string",
                         "invalid type: got %s, expected a string", type_name(val));
            continue;
        }
        m->keys[m->len] = k;
        m->vals[m->len] = val ? field_scalar(fc->arena, val) : arena_strdup(fc->arena, "");
        m->len++;
    }
}

static bool
decode_int(struct field_ctx *fc, struct fy_node *v, const char *path, int64_t lo, int64_t hi,
           const char *type, struct opt_int *out)
{
    if (!expect_type(fc, v, FYNT_SCALAR, path, "an integer")) return false;
    const char *s = fy_node_get_scalar0(v);
    int64_t x;
    if (!s || !parse_int(s, &x)) {
        decode_error(fc, v, path, "write a whole number", "invalid value \"%s\": expected %s",
                     s ? s : "", type);
        return false;
    }
    if (x < lo || x > hi) {
        decode_error(fc, v, path, "use a value in the field's range",
                     "invalid value %" PRId64 ": out of range for %s", x, type);
        return false;
    }
    out->set = true;
    out->v = x;
    return true;
}

static void
decode_value(struct field_ctx *fc, const struct field_desc *f, struct fy_node *v, const char *path,
             void *slot, void *base)
{
    switch (f->kind) {
    case FIELD_STR:
        if (!expect_type(fc, v, FYNT_SCALAR, path, "a string")) return;
        *(const char **)slot = field_scalar(fc->arena, v);
        return;
    case FIELD_I32: decode_int(fc, v, path, INT32_MIN, INT32_MAX, "int32", slot); return;
    case FIELD_U32: decode_int(fc, v, path, 0, UINT32_MAX, "uint32 (0 or more)", slot); return;
    case FIELD_U64: decode_int(fc, v, path, 0, INT64_MAX, "uint64 (0 or more)", slot); return;
    case FIELD_BOOL: {
        if (!expect_type(fc, v, FYNT_SCALAR, path, "true or false")) return;
        const char *s = fy_node_get_scalar0(v);
        struct opt_bool *b = slot;
        if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
            b->set = b->v = true;
        } else if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
            b->set = true;
            b->v = false;
        } else {
            decode_error(fc, v, path, "write true or false",
                         "invalid value \"%s\": expected true or false", s ? s : "");
        }
        return;
    }
    case FIELD_DBL: {
        if (!expect_type(fc, v, FYNT_SCALAR, path, "a number")) return;
        const char *s = fy_node_get_scalar0(v);
        char *end;
        double d = s ? strtod(s, &end) : 0;
        if (!s || !*s || *end || !isfinite(d)) {
            decode_error(fc, v, path, "write a number such as 12.5",
                         "invalid value \"%s\": expected a number", s ? s : "");
            return;
        }
        ((struct opt_dbl *)slot)->set = true;
        ((struct opt_dbl *)slot)->v = d;
        return;
    }
    case FIELD_PCT: {
        if (!expect_type(fc, v, FYNT_MAPPING, path, "a mapping {value: <percent>}")) return;
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(v, &it))) {
            const char *k = fy_node_get_scalar0(fy_node_pair_key(p));
            if (k && !strcmp(k, "value")) {
                static const struct field_desc dbl = {"value", "value", FIELD_DBL};
                struct fy_node *pv = fy_node_pair_value(p);
                if (!is_null(pv)) decode_value(fc, &dbl, pv, child_path(fc, path, k), slot, base);
                ((struct opt_dbl *)slot)->set = true;
            } else {
                decode_error(fc, fy_node_pair_key(p), child_path(fc, path, k ? k : "?"),
                             "a percentage is written {value: 12.5}", "unknown field \"%s\"",
                             k ? k : "?");
            }
        }
        return;
    }
    case FIELD_DUR: {
        if (!expect_type(fc, v, FYNT_SCALAR, path, "a duration string")) return;
        const char *s = fy_node_get_scalar0(v);
        struct opt_dur *d = slot;
        if (!s || field_parse_duration(s, &d->ns)) {
            decode_error(fc, v, path, "write a duration such as \"500ms\", \"1.5s\" or \"2m\"",
                         "invalid duration \"%s\"", s ? s : "");
            return;
        }
        d->set = true;
        return;
    }
    case FIELD_ENUM: {
        if (!expect_type(fc, v, FYNT_SCALAR, path, "one of the enum names")) return;
        const char *s = fy_node_get_scalar0(v);
        struct opt_enum *e = slot;
        int64_t num;
        for (int i = 0; s && f->enum_names[i]; i++) {
            if (!strcmp(s, f->enum_names[i])) {
                e->set = true;
                e->v = i;
                return;
            }
        }
        int count = 0;
        while (f->enum_names[count]) count++;
        if (s && parse_int(s, &num) && num >= 0 && num < count) {
            e->set = true;
            e->v = (int)num;
            return;
        }
        char allowed[512];
        size_t n = 0;
        allowed[0] = '\0';
        for (int i = 0; i < count && n < sizeof(allowed); i++)
            n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s\"%s\"", i ? ", " : "",
                                  f->enum_names[i]);
        char hint[600];
        snprintf(hint, sizeof(hint), "use one of %s (case-sensitive)", allowed);
        decode_error(fc, v, path, hint, "Unsupported value: \"%s\"", s ? s : "");
        return;
    }
    case FIELD_STRS: {
        if (!expect_type(fc, v, FYNT_SEQUENCE, path, "a list of strings")) return;
        struct str_list *l = slot;
        int n = fy_node_sequence_item_count(v);
        if (n <= 0) return;
        l->v = arena_alloc(fc->arena, (size_t)n * sizeof(char *));
        void *it = NULL;
        struct fy_node *item;
        size_t i = 0;
        while ((item = fy_node_sequence_iterate(v, &it))) {
            if (fy_node_get_type(item) != FYNT_SCALAR) {
                decode_error(fc, item, arena_printf(fc->arena, "%s[%zu]", path, i),
                             "write each item as a string",
                             "invalid type: got %s, expected a string", type_name(item));
                l->v[i++] = "";
                continue;
            }
            l->v[i++] = field_scalar(fc->arena, item);
        }
        l->len = i;
        return;
    }
    case FIELD_SMAP: decode_str_map(fc, v, path, slot); return;
    case FIELD_IMAP: {
        struct str_map tmp = {0};
        decode_str_map(fc, v, path, &tmp);
        struct int_map *m = slot;
        if (!tmp.len) return;
        m->keys = tmp.keys;
        m->vals = arena_alloc(fc->arena, tmp.len * sizeof(int64_t));
        for (size_t i = 0; i < tmp.len; i++) {
            if (!parse_int(tmp.vals[i], &m->vals[i]) || m->vals[i] < 0 || m->vals[i] > UINT32_MAX) {
                decode_error(fc, field_node(v, tmp.keys[i], -1), child_path(fc, path, tmp.keys[i]),
                             NULL, "invalid value \"%s\": expected uint32", tmp.vals[i]);
                m->vals[i] = 0;
            }
        }
        m->len = tmp.len;
        return;
    }
    case FIELD_OBJ: *(void **)slot = field_decode_new(fc, f->sub, v, path); return;
    case FIELD_LIST: {
        if (!expect_type(fc, v, FYNT_SEQUENCE, path, "a list")) return;
        size_t n;
        *(void **)slot = decode_items(fc, f->sub, v, path, &n);
        *(size_t *)((char *)base + f->len_off) = n;
        return;
    }
    case FIELD_MAP: {
        if (!expect_type(fc, v, FYNT_MAPPING, path, "a mapping")) return;
        int n = fy_node_mapping_item_count(v);
        if (n <= 0) return;
        char *items = arena_alloc(fc->arena, (size_t)n * f->sub->size);
        const char **keys = arena_alloc(fc->arena, (size_t)n * sizeof(char *));
        void *it = NULL;
        struct fy_node_pair *p;
        size_t i = 0;
        while ((p = fy_node_mapping_iterate(v, &it))) {
            const char *k = field_scalar(fc->arena, fy_node_pair_key(p));
            if (!k) continue;
            keys[i] = k;
            struct fy_node *val = fy_node_pair_value(p);
            void *dst = items + i * f->sub->size;
            const char *ip = child_path(fc, path, k);
            if (is_null(val)) {
                ((struct res_obj *)dst)->path = ip;
                ((struct res_obj *)dst)->node = val ? val : fy_node_pair_key(p);
                ((struct res_obj *)dst)->is_null = true;
            } else {
                field_decode(fc, f->sub, val, ip, dst);
            }
            i++;
        }
        *(void **)slot = items;
        *(const char ***)((char *)base + f->keys_off) = keys;
        *(size_t *)((char *)base + f->len_off) = i;
        return;
    }
    }
}
