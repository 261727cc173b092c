/* SPDX-License-Identifier: Apache-2.0 */
/* File and directory walking and YAML stream parsing with libfyaml. Knows nothing about
 * Istio kinds beyond unwrapping `kind: List`. */
#include "config/source.h"

#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "config/field.h"
#include "core/alloc.h"
#include "core/compiler.h"

void
source_init(struct source *src)
{
    memset(src, 0, sizeof(*src));
    src->max_file_bytes = SOURCE_MAX_FILE_BYTES;
}

void
source_fini(struct source *src)
{
    for (size_t i = 0; i < src->n_docs; i++) fy_document_destroy(src->docs[i]);
    for (size_t i = 0; i < src->n_files; i++) free(src->files[i]);
    free(src->docs);
    free(src->files);
    memset(src, 0, sizeof(*src));
}

static struct diag *
file_error(struct diag_list *dl, const char *file, unsigned line, unsigned col, const char *hint,
           const char *msg)
{
    struct diag *d = diag_add(dl, DIAG_ERROR, DIAG_LOAD_ERROR, NULL, hint, "%s", msg);
    d->file = file;
    d->line = line;
    d->col = col;
    return d;
}

static bool
has_config_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

/* The `items` of a `kind: List` document, or NULL. */
static struct fy_node *
list_items(struct fy_node *root)
{
    if (fy_node_get_type(root) != FYNT_MAPPING) return NULL;
    struct fy_node *kind = fy_node_mapping_lookup_by_string(root, "kind", FY_NT);
    struct fy_node *items = fy_node_mapping_lookup_by_string(root, "items", FY_NT);
    const char *k = kind ? fy_node_get_scalar0(kind) : NULL;
    if (k && !strcmp(k, "List") && items && fy_node_get_type(items) == FYNT_SEQUENCE) return items;
    return NULL;
}

/* Hand one document root to <fn>, unwrapping `kind: List`. */
static void
emit(const char *file, struct fy_node *root, size_t doc_index, source_doc_fn *fn, void *arg)
{
    struct fy_node *items = list_items(root);
    if (!items) {
        fn(arg, file, root, doc_index, -1);
        return;
    }
    void *it = NULL;
    struct fy_node *item;
    int i = 0;
    while ((item = fy_node_sequence_iterate(items, &it))) fn(arg, file, item, doc_index, i++);
}

/* The first error libfyaml reported. Errors are collected, never displayed: libfyaml
 * 0.7.12 can crash displaying some (long tab-filled lines,
 * tests/fixtures/yaml/libfyaml-diag-crash.yaml). */
struct parse_error {
    bool seen;
    unsigned line, col;
    char text[400];
};

static void
first_error(struct fy_diag *diag, struct parse_error *pe)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while (!pe->seen && (e = fy_diag_errors_iterate(diag, &it))) {
        if (e->type < FYET_ERROR) continue;
        pe->seen = true;
        pe->line = e->line > 0 ? (unsigned)e->line : 0;
        pe->col = e->column > 0 ? (unsigned)e->column : 0;
        snprintf(pe->text, sizeof(pe->text), "%s", e->msg ? e->msg : "error");
    }
}

const char *
source_check_text(const char *text, size_t len, unsigned *line, unsigned *col)
{
    const unsigned char *p = (const unsigned char *)text;
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = 1;
        if (c == '\n') {
            (*line)++;
            *col = 1;
            i++;
            continue;
        }
        if (c < 0x20 && c != '\t' && c != '\r') return "file holds binary data, not YAML text";
        if (c == 0x7f) return "file holds binary data, not YAML text";
        if (c >= 0x80) {
            /* RFC 3629 strictly: no overlong forms, no surrogates, nothing past U+10FFFF.
             * libfyaml 0.7.12 loops for ever on some of those after a '%' ("%\xe0\x90\x9e"). */
            unsigned char lo = 0x80, hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
            } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0) lo = 0xa0;
                if (c == 0xed) hi = 0x9f;
            } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0) lo = 0x90;
                if (c == 0xf4) hi = 0x8f;
            } else {
                return "file is not UTF-8 text";
            }
            if (i + n > len || p[i + 1] < lo || p[i + 1] > hi) return "file is not UTF-8 text";
            for (size_t k = 2; k < n; k++)
                if ((p[i + k] & 0xc0) != 0x80) return "file is not UTF-8 text";
        }
        i += n;
        (*col)++;
    }
    return NULL;
}

struct fy_diag *
source_quiet_diag(void)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.level = FYET_ERROR;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (diag) fy_diag_set_collect_errors(diag, true);
    return diag;
}

void
source_diag_free(struct fy_diag *diag)
{
    if (!diag) return;
    fy_diag_reset_error(diag); /* frees the errors collected */
    fy_diag_unref(diag);
}

struct fy_document *
source_document(const char *text, size_t len, bool json)
{
    unsigned line, col;
    if (!text || source_check_text(text, len, &line, &col)) return NULL;
    struct fy_diag *diag = source_quiet_diag();
    if (!diag) return NULL;
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | (json ? FYPCF_JSON_FORCE : 0), .diag = diag};
    struct fy_document *doc = fy_document_build_from_string(&cfg, text, len);
    source_diag_free(diag); /* a document keeps a reference of its own */
    return doc;
}

/* Aliases may add at most this many nodes to a document, or as many as the document has
 * itself when it is bigger: a few hundred bytes of nested anchors (an "alias bomb") would
 * otherwise expand to billions of nodes. Go's YAML (yaml.v2/v3 under sigs.k8s.io/yaml, which
 * Istio reads config with) refuses "excessive aliasing" the same way. */
#define SOURCE_MAX_ALIAS_NODES 100000u
/* Aliases inside the expansion of aliases: deeper is refused (bounds the recursion). */
#define SOURCE_MAX_ALIAS_DEPTH 32u
/* libfyaml finds an alias's anchor by walking the document's list of anchors, once when
 * counting and once when resolving: 20,000 anchors and 40,000 aliases (750 KB) took 22 s
 * of CPU. Aliases followed times anchors is bounded (about 0.1 s of lookups). */
#define SOURCE_MAX_ANCHOR_STEPS (1u << 22)
/* libfyaml also walks that list to unlink each anchored node it frees: a document of 80,000
 * anchors (1.2 MB) took 10 s to free, and 16 MB of them hours. A file may hold this many. */
#define SOURCE_MAX_ANCHORS 10000u

/* Where a file holds its (SOURCE_MAX_ANCHORS + 1)th anchor, or false. Counted in the text,
 * before libfyaml parses it: an '&' after a space, a line start or a flow indicator and
 * before a name, so an '&' in a quoted or block string may count too (never too few). */
static bool
too_many_anchors(const char *p, size_t len, unsigned *line, unsigned *col)
{
    size_t n = 0;
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < len; i++, (*col)++) {
        if (p[i] == '\n') {
            (*line)++;
            *col = 0;
            continue;
        }
        if (p[i] != '&' || i + 1 == len || strchr(" \t\r\n,[]{}", p[i + 1])) continue;
        if (i && !strchr(" \t\n-:,[{", p[i - 1])) continue;
        if (++n > SOURCE_MAX_ANCHORS) return true;
    }
    return false;
}

struct alias_walk {
    size_t nodes;       /* nodes reached, aliases followed */
    size_t limit;       /* stop once <nodes> passes it */
    struct fy_node *at; /* out: the alias (outermost, in the document) that passed a bound */
    bool too_deep;      /* out: the bound passed was the nesting */
    bool undefined;     /* out: an alias names no anchor */
    bool too_costly;    /* out: the bound passed was the anchor lookups */
    size_t aliases;     /* aliases seen */
    size_t anchors;     /* anchors of the document: what one lookup may walk */
    size_t steps_left;  /* anchor lookups' budget (see SOURCE_MAX_ANCHOR_STEPS) */
};

/* Count the nodes of <n> as resolution would create them; false once a bound is passed.
 * <outer> is the alias of the document being expanded, NULL outside any. */
static bool
count_expanded(struct fy_node *n, struct alias_walk *w, struct fy_node *outer, unsigned depth,
               bool follow)
{
    if (!n) return true;
    if (++w->nodes > w->limit) {
        w->at = outer ? outer : n;
        return false;
    }
    if (fy_node_is_alias(n)) {
        w->aliases++;
        if (!follow) return true;
        if (depth >= SOURCE_MAX_ALIAS_DEPTH) {
            w->at = outer ? outer : n;
            w->too_deep = true;
            return false;
        }
        if (w->anchors > w->steps_left) {
            w->at = outer ? outer : n;
            w->too_costly = true;
            return false;
        }
        w->steps_left -= w->anchors;
        struct fy_node *target = fy_node_resolve_alias(n);
        if (!target) {
            w->at = outer ? outer : n;
            w->undefined = true;
            return false;
        }
        return count_expanded(target, w, outer ? outer : n, depth + 1, follow);
    }
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_SEQUENCE) {
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(n, &it)))
            if (!count_expanded(item, w, outer, depth, follow)) return false;
    } else if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it))) {
            if (!count_expanded(fy_node_pair_key(p), w, outer, depth, follow)) return false;
            if (!count_expanded(fy_node_pair_value(p), w, outer, depth, follow)) return false;
        }
    }
    return true;
}

/* Resolve the aliases and merge keys of <doc> unless that would blow up. Returns false with
 * the reason in <msg> and the alias at fault in <*at>. */
static bool
resolve_bounded(struct fy_document *doc, struct fy_node **at, const char **hint, char *msg,
                size_t msg_size)
{
    *hint = "write the repeated values out, or use fewer nested anchors";
    struct fy_node *root = fy_document_root(doc);
    struct alias_walk w = {.limit = SIZE_MAX};
    count_expanded(root, &w, NULL, 0, false);
    *at = NULL;
    if (!w.aliases) return true; /* nothing to expand: the common case */
    size_t own = w.nodes;
    size_t extra = own > SOURCE_MAX_ALIAS_NODES ? own : SOURCE_MAX_ALIAS_NODES;
    size_t anchors = 0;
    void *it = NULL;
    while (fy_document_anchor_iterate(doc, &it)) anchors++;
    size_t aliases = w.aliases;
    w = (struct alias_walk){
        .limit = own + extra, .anchors = anchors, .steps_left = SOURCE_MAX_ANCHOR_STEPS};
    if (!count_expanded(root, &w, NULL, 0, true)) {
        *at = w.at;
        if (w.undefined) {
            *hint = "define the anchor (&name) earlier in the same document";
            snprintf(msg, msg_size,
                     "YAML alias names no anchor defined before it in this document");
        } else if (w.too_deep) {
            snprintf(msg, msg_size, "YAML aliases nest more than %u deep", SOURCE_MAX_ALIAS_DEPTH);
        } else if (w.too_costly) {
            *hint = "use fewer anchors and aliases in one document";
            snprintf(msg, msg_size,
                     "YAML aliases of this document would take more than %u anchor lookups "
                     "(%zu aliases, %zu anchors): refused",
                     SOURCE_MAX_ANCHOR_STEPS, aliases, anchors);
        } else {
            snprintf(msg, msg_size,
                     "YAML aliases would add more than %zu nodes to this document of %zu "
                     "(an alias bomb?): refused",
                     extra, own);
        }
        return false;
    }
    if (w.aliases && fy_document_resolve(doc)) {
        snprintf(msg, msg_size, "cannot resolve the YAML aliases");
        return false;
    }
    return true;
}

/* Is <item> of a flow sequence a plain scalar that libfyaml split at a ':' right before
 * ',' or ']' (YAML 1.2 reads "[1.2.3.4, 2001:db8::]" as {"2001:db8:": null})? Go's YAML,
 * which Istio reads config with, ends a plain scalar only at ": " or a flow indicator, so
 * it reads "2001:db8::". Returns the key, whose text plus ':' is the scalar Go reads. */
static struct fy_node *
split_flow_scalar(struct fy_node *item, const char *text, size_t len)
{
    if (fy_node_get_type(item) != FYNT_MAPPING || fy_node_mapping_item_count(item) != 1)
        return NULL;
    struct fy_node_pair *p = fy_node_mapping_get_by_index(item, 0);
    struct fy_node *key = fy_node_pair_key(p), *value = fy_node_pair_value(p);
    if (!key || fy_node_get_type(key) != FYNT_SCALAR || fy_node_get_style(key) != FYNS_PLAIN)
        return NULL;
    if (value && !(fy_node_get_type(value) == FYNT_SCALAR &&
                   fy_node_get_style(value) == FYNS_PLAIN && !fy_node_get_scalar_token(value)))
        return NULL;
    struct fy_token *t = fy_node_get_scalar_token(key);
    const struct fy_mark *end = t ? fy_token_end_mark(t) : NULL;
    if (!end || end->input_pos + 1 >= len) return NULL;
    const char *after = text + end->input_pos;
    return after[0] == ':' && (after[1] == ',' || after[1] == ']') ? key : NULL;
}

/* The scalar Go's YAML reads for the split item whose key is <key>: the key's text and ':'.
 * NULL when it cannot be made. */
static struct fy_node *
joined_scalar(struct fy_document *doc, struct fy_node *key)
{
    size_t klen;
    const char *k = fy_node_get_scalar(key, &klen);
    char *joined = xmalloc(klen + 2);
    memcpy(joined, k, klen);
    joined[klen] = ':';
    joined[klen + 1] = '\0';
    struct fy_node *scalar = fy_node_create_scalar_copy(doc, joined, klen + 1);
    free(joined);
    return scalar;
}

/* Put back, as one string, every flow-sequence item libfyaml split that Go's YAML would
 * not have (see split_flow_scalar); depth is bounded by the parser's nesting limit. Linear
 * in the nodes: libfyaml finds an item by index, and checks that an item it inserts before
 * or removes is in the sequence, by walking the list from its head. */
static void
join_flow_scalars(struct fy_document *doc, struct fy_node *n, const char *text, size_t len)
{
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it)))
            if (fy_node_pair_value(p)) join_flow_scalars(doc, fy_node_pair_value(p), text, len);
        return;
    }
    if (fy_node_get_type(n) != FYNT_SEQUENCE) return;
    struct fy_node *item;
    bool split = false;
    while (!split && fy_node_get_style(n) == FYNS_FLOW && (item = fy_node_sequence_iterate(n, &it)))
        split = split_flow_scalar(item, text, len) != NULL;
    if (!split) {
        it = NULL;
        while ((item = fy_node_sequence_iterate(n, &it))) join_flow_scalars(doc, item, text, len);
        return;
    }
    /* Rebuild the sequence in one turn: each item leaves at the head (found at once) and
     * comes back at the tail, as it was or as the scalar Go reads. */
    for (int i = 0, count = fy_node_sequence_item_count(n); i < count; i++) {
        void *head = NULL;
        item = fy_node_sequence_remove(n, fy_node_sequence_iterate(n, &head));
        BUG_ON(!item);
        struct fy_node *key = split_flow_scalar(item, text, len);
        struct fy_node *scalar = key ? joined_scalar(doc, key) : NULL;
        if (scalar) {
            fy_node_free(item);
            item = scalar;
        } else {
            join_flow_scalars(doc, item, text, len);
        }
        BUG_ON(fy_node_sequence_append(n, item));
    }
}

static char *
read_all(const char *path, size_t size, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = xmalloc(size + 1);
    *len = fread(buf, 1, size, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The path of a file or directory, kept as long as the source (messages point to it). */
static const char *
keep_path(struct source *src, const char *path)
{
    xgrow((void **)&src->files, &src->cap_files, src->n_files + 1, sizeof(char *));
    char *copy = xstrdup(path);
    src->files[src->n_files++] = copy;
    return copy;
}

static void load_text(struct source *src, const char *file, char *text, size_t len,
                      source_doc_fn *fn, void *arg, struct diag_list *dl);

/* Returns 0, or -errno when the file cannot be read at all (reported in <dl>). */
static int
load_file(struct source *src, const char *path, off_t size, source_doc_fn *fn, void *arg,
          struct diag_list *dl)
{
    const char *file = keep_path(src, path);

    if ((size_t)size > src->max_file_bytes) {
        char msg[256];
        snprintf(msg, sizeof(msg), "file is %.1f MB; config files are read up to %zu MB",
                 (double)size / (1 << 20), src->max_file_bytes >> 20);
        file_error(dl, file, 0, 0, "split it into smaller files", msg);
        return 0;
    }

    size_t len;
    char *text = read_all(file, (size_t)size, &len);
    if (!text) {
        int rc = -errno;
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot read the file: %s", strerror(-rc));
        file_error(dl, file, 0, 0, "check the file's permissions", msg);
        return rc;
    }
    load_text(src, file, text, len, fn, arg, dl);
    return 0;
}

/* Parse <text> (<len> bytes, NUL-terminated, malloc'd: taken over) named <file> (kept by
 * <src>) into documents for <fn>; every problem goes to <dl>. */
static void
load_text(struct source *src, const char *file, char *text, size_t len, source_doc_fn *fn,
          void *arg, struct diag_list *dl)
{
    src->digest += XXH64(text, len, 0);
    unsigned bad_line, bad_col;
    const char *why = source_check_text(text, len, &bad_line, &bad_col);
    if (why) {
        file_error(dl, file, bad_line, bad_col, "give meshlet YAML or JSON text files", why);
        free(text);
        return;
    }
    if (too_many_anchors(text, len, &bad_line, &bad_col)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "file has more than %u YAML anchors (&name): refused",
                 SOURCE_MAX_ANCHORS);
        file_error(dl, file, bad_line, bad_col, "write the values out, or split the file", msg);
        free(text);
        return;
    }

    struct parse_error pe = {0};
    struct fy_diag *diag = source_quiet_diag();
    if (!diag) {
        file_error(dl, file, 0, 0, NULL, "cannot create the YAML diagnostics");
        free(text);
        return;
    }
    struct fy_parse_cfg cfg = {
        /* Not FYPCF_RESOLVE_DOCUMENT: aliases are counted before they are expanded. */
        .flags = FYPCF_QUIET | FYPCF_JSON_AUTO,
        .diag = diag,
    };
    struct fy_parser *fyp = fy_parser_create(&cfg);
    /* The parser owns <text> from here on (documents keep references into it). */
    if (!fyp || fy_parser_set_malloc_string(fyp, text, len)) {
        file_error(dl, file, 0, 0, NULL, "cannot start the YAML parser");
        if (fyp) fy_parser_destroy(fyp);
        fy_diag_unref(diag);
        free(text);
        return;
    }
    struct fy_document *doc;
    for (size_t doc_index = 0; (doc = fy_parse_load_document(fyp)); doc_index++) {
        src->n_documents++;
        struct fy_node *bad_alias;
        char reason[256];
        const char *hint;
        if (!resolve_bounded(doc, &bad_alias, &hint, reason, sizeof(reason))) {
            unsigned line = 0, col = 0;
            field_mark(bad_alias, &line, &col);
            /* libfyaml marks an alias at its name; point at its '*'. */
            if (bad_alias && fy_node_is_alias(bad_alias) && col > 1) col--;
            file_error(dl, file, line, col, hint, reason);
            fy_parse_document_destroy(fyp, doc);
            break;
        }
        struct fy_node *root = fy_document_root(doc);
        if (root) join_flow_scalars(doc, root, text, len);
        size_t root_len = 1;
        if (root && fy_node_get_type(root) == FYNT_SCALAR && fy_node_get_style(root) == FYNS_PLAIN)
            fy_node_get_scalar(root, &root_len);
        if (!root || root_len == 0) { /* an empty document: only `---` and comments */
            fy_parse_document_destroy(fyp, doc);
            continue;
        }
        emit(file, root, doc_index, fn, arg);
        /* Nodes cost ~50 bytes per byte of YAML: keep them only when asked. */
        if (!src->keep_documents) {
            fy_parse_document_destroy(fyp, doc);
            continue;
        }
        xgrow((void **)&src->docs, &src->cap_docs, src->n_docs + 1, sizeof(*src->docs));
        src->docs[src->n_docs++] = doc;
    }
    first_error(diag, &pe);
    if (fy_parser_get_stream_error(fyp) || pe.seen) {
        char msg[512];
        snprintf(msg, sizeof(msg), "malformed YAML: %s", pe.seen ? pe.text : "the parser gave up");
        file_error(dl, file, pe.line, pe.col, "fix the YAML syntax at this position", msg);
    }
    fy_parser_destroy(fyp);
    source_diag_free(diag);
    return;
}

static int
compare_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_path(struct source *src, const char *path, bool named, unsigned depth,
                     source_doc_fn *fn, void *arg, struct diag_list *dl);

static int
load_dir(struct source *src, const char *path, unsigned depth, source_doc_fn *fn, void *arg,
         struct diag_list *dl)
{
    struct dirent **names;
    int n = scandir(path, &names, NULL, compare_names);
    if (n < 0) {
        int rc = -errno;
        char msg[256];
        snprintf(msg, sizeof(msg), "cannot list the directory: %s", strerror(-rc));
        file_error(dl, keep_path(src, path), 0, 0, "check the directory's permissions", msg);
        return rc;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.') {
            size_t len = strlen(path) + strlen(name) + 2;
            char *child = xmalloc(len);
            snprintf(child, len, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", name);
            int r = load_path(src, child, false, depth + 1, fn, arg, dl);
            if (r && !rc) rc = r;
            free(child);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* A path that cannot be read is reported (the path and why) and fails the load as a whole
 * (exit 2, as for a missing path): a named path, a directory that cannot be listed, a
 * config file (or a dangling symlink named like one) in a directory that cannot be read. */
static int
load_path(struct source *src, const char *path, bool named, unsigned depth, source_doc_fn *fn,
          void *arg, struct diag_list *dl)
{
    struct stat st;
    if (stat(path, &st)) {
        int rc = -errno;
        if (!named && !has_config_ext(path)) return 0;
        char msg[256];
        struct stat lst;
        bool dangling = !named && rc == -ENOENT && !lstat(path, &lst) && S_ISLNK(lst.st_mode);
        snprintf(msg, sizeof(msg), "cannot read: %s%s", strerror(-rc),
                 dangling ? " (a symbolic link to nothing)" : "");
        file_error(dl, keep_path(src, path), 0, 0,
                   named ? "check the path" : "fix or remove this directory entry", msg);
        return rc;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth > 32) return 0; /* symlink loops */
        return load_dir(src, path, depth, fn, arg, dl);
    }
    if (!S_ISREG(st.st_mode)) return 0;
    if (!named && !has_config_ext(path)) return 0;
    return load_file(src, path, st.st_size, fn, arg, dl);
}

int
source_load(struct source *src, const char *const *paths, size_t n, source_doc_fn *fn, void *arg,
            struct diag_list *dl)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int r = load_path(src, paths[i], true, 0, fn, arg, dl);
        if (r && !rc) rc = r;
    }
    return rc;
}

void
source_load_docs(struct source *src, const struct source_doc *docs, size_t n, source_doc_fn *fn,
                 void *arg, struct diag_list *dl)
{
    src->mem = docs;
    src->n_mem = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = keep_path(src, docs[i].name);
        if (docs[i].len > src->max_file_bytes) {
            char msg[256];
            snprintf(msg, sizeof(msg), "document is %.1f MB; config is read up to %zu MB",
                     (double)docs[i].len / (1 << 20), src->max_file_bytes >> 20);
            file_error(dl, name, 0, 0, "split it into smaller documents", msg);
            continue;
        }
        /* The parser takes over a NUL-terminated copy, as it does a file's bytes. */
        char *text = xmalloc(docs[i].len + 1);
        if (docs[i].len) memcpy(text, docs[i].bytes, docs[i].len);
        text[docs[i].len] = '\0';
        load_text(src, name, text, docs[i].len, fn, arg, dl);
    }
}

/* Walk <path> ("spec.http[0].route[1].weight") down from <node> as far as it exists.
 * Map keys may hold dots ("app.kubernetes.io/name"), so the longest key that matches the
 * rest of the path wins. */
static struct fy_node *
walk(struct fy_node *node, const char *p)
{
    while (node && *p) {
        if (*p == '.') p++;
        if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if (*end != ']' || fy_node_get_type(node) != FYNT_SEQUENCE) break;
            struct fy_node *item = fy_node_sequence_get_by_index(node, (int)i);
            if (!item) break;
            node = item;
            p = end + 1;
            continue;
        }
        if (fy_node_get_type(node) != FYNT_MAPPING) break;
        struct fy_node *best = NULL;
        size_t best_len = 0;
        void *it = NULL;
        struct fy_node_pair *pair;
        while ((pair = fy_node_mapping_iterate(node, &it))) {
            size_t len;
            const char *k = fy_node_get_scalar(fy_node_pair_key(pair), &len);
            if (!k || len <= best_len || strncmp(p, k, len)) continue;
            if (p[len] && p[len] != '.' && p[len] != '[') continue;
            best = fy_node_pair_value(pair);
            best_len = len;
            if (!best) best = fy_node_pair_key(pair);
        }
        if (!best) break;
        node = best;
        p += best_len;
    }
    return node;
}

void
source_locate_all(const struct source *src, struct source_locate *reqs, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && reqs[end].file == reqs[i].file) end++;
        struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_JSON_AUTO};
        struct fy_parser *fyp = fy_parser_create(&cfg);
        const struct source_doc *mem = NULL;
        for (size_t k = 0; src && k < src->n_mem && !mem; k++)
            if (!strcmp(src->mem[k].name, reqs[i].file)) mem = &src->mem[k];
        int set = !fyp  ? -1
                  : mem ? fy_parser_set_string(fyp, mem->bytes, mem->len)
                        : fy_parser_set_input_file(fyp, reqs[i].file);
        if (fyp && !set) {
            struct fy_document *doc;
            size_t next = i;
            for (size_t d = 0; next < end && (doc = fy_parse_load_document(fyp)); d++) {
                struct fy_node *bad;
                const char *hint;
                char why[256];
                bool ok = resolve_bounded(doc, &bad, &hint, why, sizeof(why));
                struct fy_node *root = ok ? fy_document_root(doc) : NULL;
                for (; next < end && reqs[next].doc_index == d; next++) {
                    struct fy_node *start = root;
                    struct fy_node *items = root ? list_items(root) : NULL;
                    if (items && reqs[next].item_index >= 0)
                        start = fy_node_sequence_get_by_index(items, reqs[next].item_index);
                    if (start)
                        field_mark(walk(start, reqs[next].path), &reqs[next].line, &reqs[next].col);
                }
                fy_parse_document_destroy(fyp, doc);
            }
        }
        if (fyp) fy_parser_destroy(fyp);
        i = end;
    }
}
