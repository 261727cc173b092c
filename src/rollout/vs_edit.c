/* SPDX-License-Identifier: Apache-2.0 */
/* See vs_edit.h. libfyaml finds the nodes and the byte ranges of their scalars (token
 * marks); the text is then copied with only those ranges replaced, so nothing is ever
 * re-emitted. Owns the lookup (VirtualService, http route, destination) and the file
 * replacement; not what the weights should be (rollout.c). */
#include "rollout/vs_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "config/source.h"
#include "config/field.h"

#define VS_MAX_DOCS 4096
#define VS_MAX_DESTS 16

struct lookup {
    const char *text;
    size_t len;
    char *err;
    size_t cap;
    struct fy_node *vs;                 /* the VirtualService's root */
    struct fy_node *http_item;          /* the http route */
    struct fy_node *route;              /* its route: sequence */
    size_t n_route;                     /* items in it */
    char ns[254];                       /* the namespace short hosts resolve in ("": unknown) */
    struct fy_node *item[VS_MAX_DESTS]; /* per dest_ref: its item in route */
};

static int fail(const struct lookup *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(const struct lookup *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, l->cap, fmt, ap);
    va_end(ap);
    return -1;
}

static bool
is(struct fy_node *n, const char *s)
{
    size_t len;
    const char *v = field_text(n, &len);
    return v && len == strlen(s) && !memcmp(v, s, len);
}

/* The first scalar token in <n>: where a person sees the node start. */
static struct fy_token *
first_token(struct fy_node *n)
{
    while (n) {
        if (fy_node_get_type(n) == FYNT_SCALAR) return fy_node_get_scalar_token(n);
        void *it = NULL;
        if (fy_node_get_type(n) == FYNT_SEQUENCE) {
            n = fy_node_sequence_iterate(n, &it);
        } else {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        }
    }
    return NULL;
}

/* "line:col" (1-based) of <n>, in <buf>. */
static const char *
pos(struct fy_node *n, char *buf, size_t cap)
{
    struct fy_token *t = first_token(n);
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    if (m)
        snprintf(buf, cap, "%d:%d", m->line + 1, m->column + 1);
    else
        snprintf(buf, cap, "?:?");
    return buf;
}

/* "line:col" of the key <key> of mapping <m> (the line a person looks for). */
static const char *
key_pos(struct fy_node *m, const char *key, char *buf, size_t cap)
{
    struct fy_node_pair *p = m && fy_node_get_type(m) == FYNT_MAPPING
                                 ? fy_node_mapping_lookup_pair_by_string(m, key, FY_NT)
                                 : NULL;
    return pos(p ? fy_node_pair_key(p) : m, buf, cap);
}

/* A VirtualService document's root (or `kind: List` item) that <name> and <ns> select. */
static bool
selected(struct fy_node *root, const char *name, const char *ns)
{
    if (!is(field_node(root, "kind", -1), "VirtualService")) return false;
    struct fy_node *meta = field_node(root, "metadata", -1);
    if (!is(field_node(meta, "name", -1), name)) return false;
    struct fy_node *doc_ns = field_node(meta, "namespace", -1);
    return !ns || !doc_ns || is(doc_ns, ns);
}

static int
find_vs(struct lookup *l, struct fy_document **docs, size_t n_docs, const char *name,
        const char *ns)
{
    char a[32], b[32];
    l->vs = NULL;
    for (size_t d = 0; d < n_docs; d++) {
        struct fy_node *root = fy_document_root(docs[d]);
        struct fy_node *items =
            is(field_node(root, "kind", -1), "List") ? field_node(root, "items", -1) : NULL;
        void *it = NULL;
        struct fy_node *one = root;
        if (items && fy_node_get_type(items) == FYNT_SEQUENCE)
            one = fy_node_sequence_iterate(items, &it);
        for (; one; one = items ? fy_node_sequence_iterate(items, &it) : NULL) {
            if (!selected(one, name, ns)) continue;
            if (l->vs)
                return fail(
                    l, "VirtualService %s is there twice (%s and %s): give its namespace", name,
                    pos(field_node(field_node(l->vs, "metadata", -1), "name", -1), a, sizeof(a)),
                    pos(field_node(field_node(one, "metadata", -1), "name", -1), b, sizeof(b)));
            l->vs = one;
        }
    }
    if (!l->vs) return fail(l, "no VirtualService %s%s%s", ns ? ns : "", ns ? "/" : "", name);
    size_t len;
    const char *doc_ns =
        field_text(field_node(field_node(l->vs, "metadata", -1), "namespace", -1), &len);
    if (doc_ns && len < sizeof(l->ns))
        snprintf(l->ns, sizeof(l->ns), "%.*s", (int)len, doc_ns);
    else if (ns)
        snprintf(l->ns, sizeof(l->ns), "%s", ns);
    return 0;
}

static size_t
count(struct fy_node *seq)
{
    return seq && fy_node_get_type(seq) == FYNT_SEQUENCE ? (size_t)fy_node_sequence_item_count(seq)
                                                         : 0;
}

static int
find_route(struct lookup *l, const char *name, const char *route)
{
    char a[32], b[32];
    struct fy_node *http = field_node(field_node(l->vs, "spec", -1), "http", -1);
    if (!count(http))
        return fail(l, "VirtualService %s (%s) has no http routes", name,
                    key_pos(l->vs, "spec", a, sizeof(a)));
    bool named = route && *route;
    void *it = NULL;
    struct fy_node *h;
    l->http_item = NULL;
    while ((h = fy_node_sequence_iterate(http, &it))) {
        if (named ? !is(field_node(h, "name", -1), route) : count(field_node(h, "route", -1)) < 2)
            continue;
        if (!named) {
            l->http_item = h;
            break;
        }
        if (l->http_item)
            return fail(l, "http route '%s' is there twice in VirtualService %s (%s and %s)", route,
                        name, pos(l->http_item, a, sizeof(a)), pos(h, b, sizeof(b)));
        l->http_item = h;
    }
    if (!l->http_item) {
        struct fy_node *spec = field_node(l->vs, "spec", -1);
        if (named)
            return fail(l, "VirtualService %s (%s) has no http route named '%s'", name,
                        key_pos(spec, "http", a, sizeof(a)), route);
        return fail(l, "VirtualService %s (%s) has no http route with two destinations or more",
                    name, key_pos(spec, "http", a, sizeof(a)));
    }
    l->route = field_node(l->http_item, "route", -1);
    l->n_route = count(l->route);
    if (!l->n_route)
        return fail(l, "http route at %s has no route: destinations",
                    pos(l->http_item, a, sizeof(a)));
    return 0;
}

/* <h> as Istio reads it in namespace <ns>: a name without a dot is a short name. */
static void
full_host(char *out, size_t cap, const char *h, size_t len, const char *ns)
{
    if (*ns && !memchr(h, '.', len))
        snprintf(out, cap, "%.*s.%s.svc.cluster.local", (int)len, h, ns);
    else
        snprintf(out, cap, "%.*s", (int)len, h);
}

static bool
dest_matches(const struct lookup *l, struct fy_node *item, const struct dest_ref *ref)
{
    struct fy_node *d = field_node(item, "destination", -1);
    size_t len, slen = 0;
    const char *host = field_text(field_node(d, "host", -1), &len);
    if (!host) return false;
    char a[512], b[512];
    full_host(a, sizeof(a), host, len, l->ns);
    full_host(b, sizeof(b), ref->host, strlen(ref->host), l->ns);
    if (strcmp(a, b)) return false;
    struct fy_node *sn = field_node(d, "subset", -1);
    const char *subset = sn ? field_text(sn, &slen) : "";
    const char *want = ref->subset ? ref->subset : "";
    return subset && slen == strlen(want) && !memcmp(subset, want, slen);
}

static int
find_dests(struct lookup *l, const struct dest_ref *dests, size_t n)
{
    char a[32], b[32];
    if (n > VS_MAX_DESTS) return fail(l, "more than %d destinations", VS_MAX_DESTS);
    for (size_t i = 0; i < n; i++) {
        const char *sub = dests[i].subset && *dests[i].subset ? dests[i].subset : NULL;
        l->item[i] = NULL;
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(l->route, &it))) {
            if (!dest_matches(l, item, &dests[i])) continue;
            if (l->item[i])
                return fail(l, "destination %s%s%s is there twice in the route (%s and %s)",
                            dests[i].host, sub ? " subset " : "", sub ? sub : "",
                            pos(l->item[i], a, sizeof(a)), pos(item, b, sizeof(b)));
            l->item[i] = item;
        }
        if (!l->item[i])
            return fail(l, "no destination %s%s%s in the http route at %s", dests[i].host,
                        sub ? " subset " : "", sub ? sub : "", pos(l->http_item, a, sizeof(a)));
        for (size_t j = 0; j < i; j++)
            if (l->item[j] == l->item[i])
                return fail(l, "destinations %zu and %zu are the same item (%s)", j + 1, i + 1,
                            pos(l->item[i], a, sizeof(a)));
    }
    return 0;
}

/* libfyaml's first error as "line:col: text" into <out>. Errors are collected, not
 * printed: libfyaml 0.7.12 can crash printing some (long lines with tabs). */
static void
first_error(struct fy_diag *diag, char *out, size_t cap)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)))
        if (e->type >= FYET_ERROR) {
            snprintf(out, cap, "%d:%d: %s", e->line, e->column, e->msg ? e->msg : "error");
            return;
        }
}

/* Parse <text> and run the whole lookup; the documents go to <docs> (destroy with the
 * parser). */
static int
lookup_run(struct lookup *l, struct fy_parser *fyp, struct fy_diag *diag, struct fy_document **docs,
           size_t *n_docs, const char *name, const char *ns, const char *route,
           const struct dest_ref *dests, size_t n)
{
    struct fy_document *doc;
    *n_docs = 0;
    while (*n_docs < VS_MAX_DOCS && (doc = fy_parse_load_document(fyp))) docs[(*n_docs)++] = doc;
    if (fy_parser_get_stream_error(fyp)) {
        char why[200] = "the parser gave up";
        first_error(diag, why, sizeof(why));
        return fail(l, "not valid YAML: %s", why);
    }
    if (*n_docs == VS_MAX_DOCS) return fail(l, "more than %d documents", VS_MAX_DOCS);
    int rc = find_vs(l, docs, *n_docs, name, ns);
    if (!rc) rc = find_route(l, name, route);
    if (!rc) rc = find_dests(l, dests, n);
    return rc;
}

typedef int lookup_fn(struct lookup *l, void *arg);

/* Parse, look up, hand over to <fn> while the nodes live, then free everything. */
static int
with_lookup(const char *text, size_t len, const char *name, const char *ns, const char *route,
            const struct dest_ref *dests, size_t n, char *err, size_t cap, lookup_fn *fn, void *arg)
{
    struct lookup l = {.text = text, .len = len, .err = err, .cap = cap};
    struct fy_diag *diag = source_quiet_diag();
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_parser *fyp = diag ? fy_parser_create(&cfg) : NULL;
    struct fy_document **docs = calloc(VS_MAX_DOCS, sizeof(*docs));
    size_t n_docs = 0;
    unsigned line, col;
    /* the parser gets its own NUL-terminated copy (and frees it), as config loading gives
     * it one; marks are offsets, valid in <text> too */
    char *copy = NULL;
    const char *why = source_check_text(text, len, &line, &col);
    int rc;
    if (why) {
        rc = fail(&l, "not YAML text: %u:%u: %s", line, col, why);
    } else if (!fyp || !docs || !(copy = malloc(len + 1))) {
        rc = fail(&l, "out of memory");
    } else {
        memcpy(copy, text, len);
        copy[len] = '\0';
        if (fy_parser_set_malloc_string(fyp, copy, len)) {
            free(copy);
            rc = fail(&l, "out of memory");
        } else {
            rc = lookup_run(&l, fyp, diag, docs, &n_docs, name, ns, route, dests, n);
            if (!rc) rc = fn(&l, arg);
        }
    }
    for (size_t i = 0; i < n_docs; i++) fy_parse_document_destroy(fyp, docs[i]);
    free(docs);
    if (fyp) fy_parser_destroy(fyp);
    source_diag_free(diag); /* with the errors collected (and the input they hold) */
    return rc;
}

struct edit {
    size_t at, end; /* replace [at, end) ... */
    char with[64];  /* ... by this */
};

struct edit_args {
    const int *weights;
    size_t n;
    struct strbuf *out;
};

/* The last scalar token in <n>: where the node ends. */
static struct fy_token *
last_token(struct fy_node *n)
{
    struct fy_token *last = NULL;
    while (n) {
        if (fy_node_get_type(n) == FYNT_SCALAR) return fy_node_get_scalar_token(n);
        int k = fy_node_get_type(n) == FYNT_SEQUENCE ? fy_node_sequence_item_count(n)
                                                     : fy_node_mapping_item_count(n);
        if (k <= 0) return last;
        if (fy_node_get_type(n) == FYNT_SEQUENCE) {
            n = fy_node_sequence_get_by_index(n, k - 1);
        } else {
            struct fy_node_pair *p = fy_node_mapping_get_by_index(n, k - 1);
            last = fy_node_get_scalar_token(fy_node_pair_key(p));
            n = fy_node_pair_value(p);
        }
    }
    return last;
}

/* The length of the line break at <i> of <t> (<n> bytes): YAML breaks lines at LF, CRLF
 * and a lone CR. 0 when there is none. */
static size_t
break_len(const char *t, size_t n, size_t i)
{
    if (i >= n) return 0;
    if (t[i] == '\n') return 1;
    if (t[i] != '\r') return 0;
    return i + 1 < n && t[i + 1] == '\n' ? 2 : 1;
}

/* A `weight: N` line for <item>, which has none. */
static int
insert_weight(const struct lookup *l, struct fy_node *item, int weight, struct edit *e)
{
    char a[32];
    if (fy_node_get_style(item) == FYNS_FLOW || fy_node_get_type(item) != FYNT_MAPPING)
        return fail(l, "destination at %s is in flow style: add its weight by hand",
                    pos(item, a, sizeof(a)));
    struct fy_token *key = first_token(item), *end = last_token(item);
    const struct fy_mark *k = key ? fy_token_start_mark(key) : NULL;
    const struct fy_mark *m = end ? fy_token_end_mark(end) : NULL;
    if (!k || !m || k->column > 200)
        return fail(l, "destination at %s: cannot place a weight", pos(item, a, sizeof(a)));
    /* after the item's last line (its trailing comment included) */
    /* after the item's last line (its trailing comment included) */
    const char *t = l->text;
    size_t p = m->input_pos, n = l->len;
    if (p && p < n && t[p - 1] == '\r' && t[p] == '\n') p++;
    bool at_start = !p || t[p - 1] == '\n' || t[p - 1] == '\r';
    char eol[3];
    if (at_start && p) { /* the new line ends as the one before it */
        size_t b = t[p - 1] == '\n' && p >= 2 && t[p - 2] == '\r' ? 2 : 1;
        snprintf(eol, sizeof(eol), "%.*s", (int)b, t + p - b);
    } else {
        while (p < n && !break_len(t, n, p)) p++;
        size_t b = break_len(t, n, p);
        /* at the end of the text: as its first line ends, and that last line gets one too */
        size_t f = 0;
        while (!b && f < n && !break_len(t, n, f)) f++;
        size_t fb = b ? b : break_len(t, n, f);
        snprintf(eol, sizeof(eol), "%.*s", fb ? (int)fb : 1, fb ? t + (b ? p : f) : "\n");
        p += b;
        at_start = b > 0;
    }
    e->at = e->end = p;
    snprintf(e->with, sizeof(e->with), "%s%*sweight: %d%s", at_start ? "" : eol, k->column, "",
             weight, at_start ? eol : "");
    return 0;
}

static int
make_edit(const struct lookup *l, struct fy_node *item, int weight, struct edit *e)
{
    char a[32];
    if (weight < 0) return fail(l, "weight %d < 0", weight);
    struct fy_node *w = field_node(item, "weight", -1);
    if (!w) return insert_weight(l, item, weight, e);
    struct fy_token *t = fy_node_get_type(w) == FYNT_SCALAR && !fy_node_is_alias(w)
                             ? fy_node_get_scalar_token(w)
                             : NULL;
    const struct fy_mark *s = t ? fy_token_start_mark(t) : NULL,
                         *f = t ? fy_token_end_mark(t) : NULL;
    if (!s || !f || f->input_pos <= s->input_pos)
        return fail(l, "weight at %s is not a number to edit", pos(item, a, sizeof(a)));
    e->at = s->input_pos;
    e->end = f->input_pos;
    /* a quoted weight keeps its quotes */
    char q = l->text[e->at];
    if ((q == '"' || q == '\'') && e->end - e->at >= 2 && l->text[e->end - 1] == q) {
        e->at++;
        e->end--;
    }
    snprintf(e->with, sizeof(e->with), "%d", weight);
    return 0;
}

static int
cmp_edit(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int
apply_edits(struct lookup *l, void *arg)
{
    struct edit_args *ea = arg;
    struct edit e[VS_MAX_DESTS];
    for (size_t i = 0; i < ea->n; i++)
        if (make_edit(l, l->item[i], ea->weights[i], &e[i])) return -1;
    qsort(e, ea->n, sizeof(e[0]), cmp_edit);
    size_t from = 0;
    for (size_t i = 0; i < ea->n; i++) {
        strbuf_add(ea->out, l->text + from, e[i].at - from);
        strbuf_puts(ea->out, e[i].with);
        from = e[i].end;
    }
    strbuf_add(ea->out, l->text + from, l->len - from);
    if (ea->out->truncated) return fail(l, "the new text is over %zu bytes", ea->out->max_bytes);
    return 0;
}

int
vs_edit_weights(const char *text, size_t len, const char *name, const char *ns, const char *route,
                const struct dest_ref *dests, const int *weights, size_t n, struct strbuf *out,
                char *err, size_t cap)
{
    struct edit_args ea = {weights, n, out};
    size_t mark = out->len;
    if (with_lookup(text, len, name, ns, route, dests, n, err, cap, apply_edits, &ea)) goto undo;
    /* The new text must say what was meant: YAML has corners (a tab-only line after an
     * added plain scalar, say) where a well-placed line still changes the parse. */
    int back[VS_MAX_DESTS];
    char why[200];
    if (vs_read_weights(out->data + mark, out->len - mark, name, ns, route, dests, back, n, why,
                        sizeof(why))) {
        snprintf(err, cap, "the edited text no longer reads (%s): edit the weights by hand", why);
        goto undo;
    }
    for (size_t i = 0; i < n; i++) {
        if (back[i] == weights[i]) continue;
        snprintf(err, cap,
                 "destination %zu reads %d, not %d, once edited: edit the weights by hand", i + 1,
                 back[i], weights[i]);
        goto undo;
    }
    return 0;
undo:
    out->len = mark;
    if (out->data) out->data[mark] = '\0';
    return -1;
}

struct read_args {
    int *weights;
    size_t n;
};

static int
read_all(struct lookup *l, void *arg)
{
    struct read_args *ra = arg;
    char a[32];
    for (size_t i = 0; i < ra->n; i++) {
        struct fy_node *w = field_node(l->item[i], "weight", -1);
        if (!w) {
            ra->weights[i] = l->n_route == 1 ? 100 : 0;
            continue;
        }
        size_t len;
        const char *s = field_text(w, &len);
        long v = 0;
        size_t k = 0;
        for (; s && k < len && s[k] >= '0' && s[k] <= '9' && v <= INT_MAX / 10; k++)
            v = v * 10 + (s[k] - '0');
        if (!s || !len || k != len || v > INT_MAX)
            return fail(l, "weight at %s is not a whole number", pos(w, a, sizeof(a)));
        ra->weights[i] = (int)v;
    }
    return 0;
}

int
vs_read_weights(const char *text, size_t len, const char *name, const char *ns, const char *route,
                const struct dest_ref *dests, int *weights, size_t n, char *err, size_t cap)
{
    struct read_args ra = {weights, n};
    return with_lookup(text, len, name, ns, route, dests, n, err, cap, read_all, &ra);
}

int
vs_write_file(const char *path, const char *text, size_t len, char *err, size_t cap)
{
    /* through a symlink, the file it names is replaced (a mounted ConfigMap stays one) */
    char real[PATH_MAX], tmp[PATH_MAX + 32];
    const char *target = realpath(path, real) ? real : path;
    struct stat st;
    mode_t mode = stat(target, &st) ? 0644 : (st.st_mode & 07777);
    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", target, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *why = NULL;
    for (size_t off = 0; !why && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            why = w < 0 ? strerror(errno) : "short write";
        else
            off += (size_t)w;
    }
    if (!why && fchmod(fd, mode)) why = strerror(errno);
    if (!why && fsync(fd)) why = strerror(errno);
    if (close(fd) && !why) why = strerror(errno);
    if (!why && rename(tmp, target)) why = strerror(errno);
    if (why) {
        snprintf(err, cap, "%s: %s", tmp, why);
        unlink(tmp);
        return -1;
    }
    /* the rename itself survives a crash once the directory is on disk */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", target);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
