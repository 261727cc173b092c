/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet apply`, `get` and `delete` against an etcd prefix, as kubectl feels: apply reads
 * the files and every key under the prefix (one range, one revision), checks the config the
 * store would hold afterwards exactly as `meshlet check` does, and writes every change in
 * one transaction guarded per key by the revision it was read at, so two people applying
 * at once never lose an update. Each resource is one key, PREFIX/<Kind>/<namespace>/<name>,
 * its value the document's text as given. Not here: following the store (control/
 * etcd_source.c) and the wire format (control/etcd.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/fleet.h"
#include "cli/store.h"
#include "config/config.h"
#include "control/etcd.h"
#include "control/etcd_http.h"
#include "core/strbuf.h"
#include "tls/conn.h"

/* Exit statuses beyond cli.h's (README, each command's --help). */
enum {
    EXIT_CONFLICT = 3, /* a key changed between the read and the write: nothing written */
    EXIT_WAIT = 5,     /* --wait: not every live instance served it in time */
};

struct flags {
    const char *urls, *prefix, *ns, *output;
    const char *ca, *cert, *key; /* https:// endpoints' TLS files */
    uint64_t wait_ms;            /* --wait: how long to wait for the fleet (0: no wait) */
    bool dry_run;
    char **files;
    size_t n_files;
};

/* --- Resources named by files. --- */

enum outcome { CREATED, CONFIGURED, UNCHANGED, DELETED };
static const char *const outcome_names[] = {"created", "configured", "unchanged", "deleted"};

struct change {
    char *key;  /* owned */
    char *text; /* owned: the value to store (NULL: delete) */
    size_t len;
    char *file; /* owned: where it came from, for messages */
    enum outcome outcome;
    int64_t expect; /* the guard: the mod_revision read, 0 when absent */
};

struct changes {
    struct store *st;
    const char *ns;
    struct change *v;
    size_t n, cap;
    char *file_text; /* owned: the bytes of <file_name>, read once per file */
    size_t file_len;
    const char *file_name; /* borrowed from the source */
    bool failed;
};

static void
changes_fini(struct changes *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].key);
        free(cs->v[i].text);
        free(cs->v[i].file);
    }
    free(cs->v);
    free(cs->file_text);
}

static const char *
text_at(struct fy_node *map, const char *key)
{
    if (!map || fy_node_get_type(map) != FYNT_MAPPING) return NULL;
    struct fy_node *n = fy_node_mapping_lookup_by_string(map, key, FY_NT);
    return n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar0(n) : NULL;
}

static bool
is_segment(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* Whether line <p> of <s> (up to <end>) is a document marker: "---" then a blank or the end. */
static bool
marker_at(const char *p, const char *end)
{
    return end - p >= 3 && !memcmp(p, "---", 3) &&
           (end - p == 3 || p[3] == '\n' || p[3] == ' ' || p[3] == '\t' || p[3] == '\r');
}

/* The text of document <index> of <s>: the lines between its markers (what follows "--- "
 * on the marker line included), trailing blank lines dropped, one newline at the end.
 * Text before a file's first marker is a document only when it holds more than comments,
 * as YAML says. NULL when there is no such document. */
static char *
document_text(const char *s, size_t n, size_t index, size_t *out_len)
{
    const char *end = s + n, *p = s, *start = s;
    size_t k = 0;
    bool first = true;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        bool marker = marker_at(p, end);
        if (marker || p == end) {
            bool counts = true;
            if (first) { /* before the first marker: only if it holds content */
                counts = false;
                for (const char *q = start; q < p && !counts;) {
                    const char *e = memchr(q, '\n', (size_t)(p - q));
                    const char *le = e ? e : p;
                    const char *c = q;
                    while (c < le && (*c == ' ' || *c == '\t' || *c == '\r')) c++;
                    if (c < le && *c != '#' && *c != '%') counts = true; /* not %YAML */
                    q = e ? e + 1 : p;
                }
            }
            if (counts) {
                if (k == index) {
                    const char *e = p;
                    for (bool more = true; more;) { /* blank lines and a "..." end marker */
                        while (e > start &&
                               (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\t'))
                            e--;
                        more = e - start >= 3 && !memcmp(e - 3, "...", 3) &&
                               (e - start == 3 || e[-4] == '\n');
                        if (more) e -= 3;
                    }
                    size_t len = (size_t)(e - start);
                    char *t = malloc(len + 2);
                    if (!t) return NULL;
                    memcpy(t, start, len);
                    t[len] = '\n';
                    t[len + 1] = '\0';
                    *out_len = len + 1;
                    return t;
                }
                k++;
            }
            if (p == end) return NULL;
            first = false;
            start = p + 3; /* after the marker: the rest of its line is content */
            while (start < next && (*start == ' ' || *start == '\t')) start++;
            if (start < next && (*start == '\n' || *start == '\r')) start = next;
            if (start > end) start = end;
        }
        if (!nl) {
            p = end;
            continue;
        }
        p = next;
    }
}

/* The node as text, through libfyaml's emitter (List items, and documents given a
 * namespace): a fresh document's text. */
static char *
emitted(struct fy_node *root, size_t *len)
{
    /* JSON stays JSON; YAML comes out in block style (flow style as libfyaml writes it
     * is one node a line). */
    bool json = fy_node_get_style(root) == FYNS_FLOW;
    char *t =
        fy_emit_node_to_string(root, (json ? FYECF_MODE_JSON : FYECF_MODE_BLOCK) | FYECF_WIDTH_INF |
                                         FYECF_INDENT_2 | FYECF_NO_ENDING_NEWLINE);
    if (!t) return NULL;
    size_t n = strlen(t);
    char *out = malloc(n + 2);
    if (out) {
        memcpy(out, t, n);
        memcpy(out + n, "\n", 2);
        *len = n + 1;
    }
    free(t);
    return out;
}

/* Whether <text> is one YAML document whose kind and metadata.name are <kind> and <name>:
 * the check that document_text cut the file where the parser did. */
static bool
same_resource(const char *text, size_t len, const char *kind, const char *name)
{
    struct fy_document *doc = source_document(text, len, false);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    const char *k = text_at(root, "kind");
    const char *n = root && fy_node_get_type(root) == FYNT_MAPPING
                        ? text_at(fy_node_mapping_lookup_by_string(root, "metadata", FY_NT), "name")
                        : NULL;
    bool same = k && n && !strcmp(k, kind) && !strcmp(n, name);
    fy_document_destroy(doc);
    return same;
}

static void
on_resource(void *arg, const char *file, struct fy_node *root, size_t doc_index, int item_index)
{
    struct changes *cs = arg;
    const char *kind = text_at(root, "kind"), *api = text_at(root, "apiVersion");
    struct fy_node *md = fy_node_get_type(root) == FYNT_MAPPING
                             ? fy_node_mapping_lookup_by_string(root, "metadata", FY_NT)
                             : NULL;
    const char *name = text_at(md, "name"), *ns = text_at(md, "namespace");
    if (!kind || !api || !name) return; /* the check names what is missing */
    bool add_ns = !ns || !*ns;
    if (add_ns) ns = cs->ns;
    if (!is_segment(kind) || !is_segment(name) || !is_segment(ns)) {
        fprintf(stderr,
                "meshlet %s: %s: %s %s/%s: a kind, namespace or name with '/' cannot "
                "be a key\n",
                cs->st->cmd, file, kind, ns, name);
        cs->failed = true;
        return;
    }
    if (cs->file_name != file) { /* the source hands out one pointer per file */
        free(cs->file_text);
        cs->file_text = cli_read_file(file, &cs->file_len);
        cs->file_name = file;
    }
    char *text = NULL;
    size_t len = 0;
    if (add_ns && md && fy_node_get_type(md) == FYNT_MAPPING) {
        /* Stored as `meshlet run` reads it whatever its --namespace: with the namespace. */
        struct fy_document *doc = fy_node_document(root);
        struct fy_node *k = fy_node_create_scalar_copy(doc, "namespace", 9);
        struct fy_node *v = fy_node_create_scalar_copy(doc, ns, strlen(ns));
        if (k && v && !fy_node_mapping_append(md, k, v)) text = emitted(root, &len);
    } else if (item_index < 0 && cs->file_text) {
        text = document_text(cs->file_text, cs->file_len, doc_index, &len);
        if (text && !same_resource(text, len, kind, name)) { /* split otherwise than YAML */
            free(text);
            text = NULL;
        }
    }
    if (!text && !(add_ns && md)) text = emitted(root, &len);
    size_t klen = strlen(cs->st->prefix) + strlen(kind) + strlen(ns) + strlen(name) + 3;
    char *key = malloc(klen);
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        struct change *a = realloc(cs->v, cap * sizeof(*a));
        if (a) {
            cs->v = a;
            cs->cap = cap;
        }
    }
    char *f = strdup(file);
    if (!text || !key || !f || cs->n == cs->cap) {
        fprintf(stderr, "meshlet %s: %s: cannot read %s %s/%s\n", cs->st->cmd, file, kind, ns,
                name);
        free(text);
        free(key);
        free(f);
        cs->failed = true;
        return;
    }
    snprintf(key, klen, "%s%s/%s/%s", cs->st->prefix, kind, ns, name);
    for (size_t i = 0; i < cs->n; i++) {
        if (!strcmp(cs->v[i].key, key)) {
            fprintf(stderr, "meshlet %s: %s %s/%s is given twice (%s and %s)\n", cs->st->cmd, kind,
                    ns, name, cs->v[i].file, file);
            cs->failed = true;
        }
    }
    cs->v[cs->n++] = (struct change){key, text, len, f, CREATED, 0};
}

/* Every resource the files at <paths> hold, with its key and text. */
static int
changes_load(struct changes *cs, char **paths, size_t n)
{
    struct source src;
    struct diag_list dl; /* the check reports YAML problems: these are dropped */
    source_init(&src);
    diag_list_init(&dl);
    int rc = source_load(&src, (const char *const *)paths, n, on_resource, cs, &dl);
    if (rc) { /* a path that cannot be read: the only messages said here */
        struct strbuf out;
        strbuf_init(&out, 1 << 20);
        diag_list_format(&dl, false, &out);
        fwrite(strbuf_str(&out), 1, out.len, stderr);
        strbuf_fini(&out);
    }
    diag_list_fini(&dl);
    source_fini(&src);
    return rc || cs->failed ? CLI_USAGE : CLI_OK;
}

/* "Kind/ns/name" of <key>. */
static const char *
display(const struct store *st, const char *key)
{
    return key + strlen(st->prefix);
}

/* --- The resulting config, checked as `meshlet check` checks. --- */

/* Load <paths> (the files, with their own positions) and every stored key not replaced,
 * analyse, print the messages. CLI_OK, CLI_ERRORS (errors: nothing to write) or CLI_USAGE. */
static int
check_result(struct store *st, char **paths, size_t n_paths, const char *ns)
{
    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    struct config_options copt = {.default_ns = ns};
    int rc = 0;
    if (n_paths) rc = config_load(&set, (const char *const *)paths, n_paths, &copt, &dl);
    const struct source_doc *docs = NULL;
    ssize_t k = store_docs(st, &docs);
    if (k < 0) rc = CLI_USAGE;
    if (!rc && k) config_load_docs(&set, docs, (size_t)k, &copt, &dl);
    if (!rc) config_analyze(&set, &dl);
    struct strbuf out;
    strbuf_init(&out, (size_t)1 << 30);
    diag_list_format(&dl, false, &out);
    fwrite(strbuf_str(&out), 1, out.len, stderr);
    strbuf_fini(&out);
    int exit_code = rc ? CLI_USAGE : dl.errors ? CLI_ERRORS : CLI_OK;
    if (dl.errors)
        fprintf(stderr,
                "meshlet %s: %zu error(s) in the config the store would hold; nothing "
                "was written\n",
                st->cmd, dl.errors);
    diag_list_fini(&dl);
    config_fini(&set);
    return exit_code;
}

/* --- The write. --- */

struct now_kv {
    const char *key;
    int64_t mod_revision;
};

struct conflict_read {
    struct now_kv *v;
    size_t n, cap;
    char **keys; /* owned copies */
};

static void
on_now(void *arg, const struct etcd_kv *kv)
{
    struct conflict_read *cr = arg;
    if (cr->n == cr->cap) return;
    char *key = strndup(kv->key, kv->key_len);
    if (!key) return;
    cr->keys[cr->n] = key;
    cr->v[cr->n++] = (struct now_kv){key, kv->mod_revision};
}

/* Say which guarded keys moved (<cr>: each as it is now); the transaction did nothing. */
static void
report_conflict(struct store *st, const struct change *v, size_t n, const struct conflict_read *cr)
{
    size_t said = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].outcome == UNCHANGED) continue;
        int64_t now = 0;
        for (size_t j = 0; j < cr->n; j++)
            if (!strcmp(cr->v[j].key, v[i].key)) now = cr->v[j].mod_revision;
        if (now == v[i].expect) continue;
        said++;
        if (!v[i].expect)
            fprintf(stderr,
                    "meshlet %s: %s was created since it was read (now at revision "
                    "%" PRId64 "); nothing was written\n",
                    st->cmd, v[i].key, now);
        else if (!now)
            fprintf(stderr,
                    "meshlet %s: %s was deleted since it was read (revision %" PRId64
                    "); nothing was written\n",
                    st->cmd, v[i].key, v[i].expect);
        else
            fprintf(stderr,
                    "meshlet %s: %s changed since it was read (revision %" PRId64 " -> %" PRId64
                    "); nothing was written\n",
                    st->cmd, v[i].key, v[i].expect, now);
    }
    if (!said)
        fprintf(stderr, "meshlet %s: the store changed since it was read; nothing was written\n",
                st->cmd);
    fprintf(stderr, "meshlet %s: read the store again and retry\n", st->cmd);
}

/* MESHLET_TEST_APPLY_DELAY_MS, for tests only: wait this long between the read and the
 * write, having said so on stderr, so a test can change a key in between and see the
 * conflict every time. */
static void
test_delay(const struct store *st)
{
    const char *env = getenv("MESHLET_TEST_APPLY_DELAY_MS");
    long ms;
    if (!env || !cli_parse_int(env, 1, 60000, &ms)) return;
    fprintf(stderr, "meshlet %s: read revision %" PRId64 "; waiting %ld ms (test hook)\n", st->cmd,
            st->revision, ms);
    fflush(stderr);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) && errno == EINTR) continue;
}

/* Write the changes other than UNCHANGED in one guarded transaction. */
static int
write_changes(struct store *st, const struct change *v, size_t n)
{
    struct etcd_op *ops = calloc(n + 1, sizeof(*ops));
    struct conflict_read cr = {calloc(n + 1, sizeof(*cr.v)), 0, n, calloc(n + 1, sizeof(char *))};
    if (!ops || !cr.v || !cr.keys) {
        free(ops);
        free(cr.v);
        free(cr.keys);
        return EXIT_STORE;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].outcome != UNCHANGED)
            ops[k++] = (struct etcd_op){v[i].key, v[i].text, v[i].len, v[i].expect};
    int rc = CLI_OK;
    if (k) {
        struct strbuf body, out;
        strbuf_init(&body, STORE_ANSWER_MAX);
        strbuf_init(&out, STORE_ANSWER_MAX);
        etcd_txn_body(&body, ops, k);
        rc = store_call(st, "/v3/kv/txn", &body, &out);
        bool ok = false;
        int64_t revision = 0;
        char err[512];
        if (!rc && etcd_parse_txn(strbuf_str(&out), out.len, &ok, &revision, on_now, &cr, err,
                                  sizeof(err))) {
            fprintf(stderr, "meshlet %s: %s\n", st->cmd, err);
            rc = EXIT_STORE;
        } else if (!rc && !ok) {
            report_conflict(st, v, n, &cr);
            rc = EXIT_CONFLICT;
        } else if (!rc) {
            st->revision = st->written = revision;
        }
        strbuf_fini(&body);
        strbuf_fini(&out);
    }
    for (size_t j = 0; j < cr.n; j++) free(cr.keys[j]);
    free(cr.keys);
    free(cr.v);
    free(ops);
    return rc;
}

/* --wait: until every live instance (status keys, control/status.c) serves what was written
 * (or, when nothing was, the store's newest config), or <ms> pass; then those that do not,
 * and why. */
static int
wait_fleet(const struct store *st, uint64_t ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[512];
    for (;;) {
        struct fleet f;
        if (fleet_read(st->eps, st->n_eps, st->prefix, &f, err, sizeof(err))) {
            fprintf(stderr, "meshlet %s --wait: %s\n", st->cmd, err);
            fleet_free(&f);
            return EXIT_STORE;
        }
        int64_t want = st->written > f.latest ? st->written : f.latest;
        size_t serving = 0;
        for (size_t i = 0; i < f.n; i++) serving += fleet_serves(&f.items[i], want);
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t took_ns =
            (int64_t)(now.tv_sec - t0.tv_sec) * 1000000000 + (now.tv_nsec - t0.tv_nsec);
        uint64_t took = (uint64_t)(took_ns / 1000000);
        if (serving == f.n) {
            if (f.n)
                printf("revision %" PRId64 " served by all %zu instance(s) (%.1f s)\n", want, f.n,
                       (double)took / 1000);
            else
                printf("no instance follows %s: nothing to wait for\n", st->prefix);
            fleet_free(&f);
            return CLI_OK;
        }
        if (took >= ms) {
            printf("revision %" PRId64 ": %zu of %zu instance(s) serve it after %.1f s; not:\n",
                   want, serving, f.n, (double)took / 1000);
            for (size_t i = 0; i < f.n; i++)
                if (!fleet_serves(&f.items[i], want))
                    printf("  %s (%s) serves revision %" PRId64 "%s%s\n", f.items[i].name,
                           f.items[i].address, f.items[i].revision,
                           *f.items[i].error ? ": refused: " : "", f.items[i].error);
            fleet_free(&f);
            return EXIT_WAIT;
        }
        fleet_free(&f);
        struct timespec nap = {0, 200 * 1000000};
        nanosleep(&nap, NULL);
    }
}

static void
print_outcomes(const struct store *st, const struct change *v, size_t n, bool dry_run)
{
    for (size_t i = 0; i < n; i++)
        printf("%s %s%s\n", display(st, v[i].key), outcome_names[v[i].outcome],
               dry_run && v[i].outcome != UNCHANGED ? " (dry run)" : "");
}

/* --- Flags shared by the three commands. --- */

enum { OPT_ETCD = 256, OPT_PREFIX, OPT_DRY_RUN, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_WAIT };

static const struct option common_opts[] = {
    {"etcd", required_argument, NULL, OPT_ETCD},
    {"etcd-prefix", required_argument, NULL, OPT_PREFIX},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"wait", optional_argument, NULL, OPT_WAIT},
    {"etcd-cacert", required_argument, NULL, OPT_CACERT},
    {"etcd-cert", required_argument, NULL, OPT_CERT},
    {"etcd-key", required_argument, NULL, OPT_KEY},
    {"filename", required_argument, NULL, 'f'},
    {"namespace", required_argument, NULL, 'n'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Which flags a command takes beyond --etcd and --etcd-prefix. */
enum { TAKES_FILES = 1, TAKES_NS = 2, TAKES_OUTPUT = 4, TAKES_DRY_RUN = 8, TAKES_WAIT = 16 };

/* A namespace as Kubernetes names one (a DNS label). */
static bool
is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Parse <argv>; what is left over starts at optind. -1: --help was printed; else a cli
 * exit status. */
static int
parse_flags(int argc, char **argv, const char *cmd, unsigned takes, void (*usage)(FILE *),
            struct flags *fl)
{
    memset(fl, 0, sizeof(*fl));
    fl->prefix = "/meshlet";
    fl->ns = "default";
    fl->files = calloc((size_t)argc + 1, sizeof(char *));
    if (!fl->files) return CLI_USAGE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:n:o:h", common_opts, NULL)) != -1) {
        unsigned need = c == 'f'           ? TAKES_FILES
                        : c == 'n'         ? TAKES_NS
                        : c == 'o'         ? TAKES_OUTPUT
                        : c == OPT_DRY_RUN ? TAKES_DRY_RUN
                        : c == OPT_WAIT    ? TAKES_WAIT
                                           : 0;
        if (need && !(takes & need)) {
            fprintf(stderr, "meshlet %s: %s is not an option of this command\n", cmd,
                    argv[optind - 1]);
            return CLI_USAGE;
        }
        switch (c) {
        case OPT_ETCD: fl->urls = optarg; break;
        case OPT_PREFIX: fl->prefix = optarg; break;
        case OPT_DRY_RUN: fl->dry_run = true; break;
        case OPT_WAIT:
            fl->wait_ms = 30000;
            if (optarg && (!cli_parse_seconds(optarg, 3600 * 1000, &fl->wait_ms) || !fl->wait_ms)) {
                fprintf(stderr, "meshlet %s: --wait=%s: expected a duration such as 10s\n", cmd,
                        optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_CACERT: fl->ca = optarg; break;
        case OPT_CERT: fl->cert = optarg; break;
        case OPT_KEY: fl->key = optarg; break;
        case 'f': fl->files[fl->n_files++] = optarg; break;
        case 'n':
            if (!is_dns_label(optarg)) {
                fprintf(stderr, "meshlet %s: -n: '%s' is not a namespace name\n", cmd, optarg);
                return CLI_USAGE;
            }
            fl->ns = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "yaml") && strcmp(optarg, "json") && strcmp(optarg, "table")) {
                fprintf(stderr, "meshlet %s: -o takes yaml, json or table\n", cmd);
                return CLI_USAGE;
            }
            fl->output = optarg;
            break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    return CLI_OK;
}

/* --- meshlet apply --- */

static void
apply_usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet apply -f PATH... --etcd URL[,URL...] [--etcd-prefix P] [--dry-run]\n"
            "                     [-n NS] [--wait[=TIME]]\n"
            "\n"
            "Write the resources of PATH (files or directories) to etcd, one key each,\n"
            "P/<Kind>/<namespace>/<name>, as kubectl apply does: the config the store would\n"
            "hold afterwards is checked as `meshlet check` checks it (errors refuse, nothing\n"
            "is written), then every change is written in one transaction that fails if a\n"
            "key it writes changed since it was read. Prints Kind/ns/name created,\n"
            "configured or unchanged (same bytes) per resource.\n"
            "\n"
            "  -f, --filename PATH   a file or directory (.yaml, .yml, .json); repeat for more\n"
            "      --etcd URL[,URL]  etcd's client URLs (http://IP:PORT); the first that answers\n"
            "      --etcd-prefix P   the key prefix `meshlet run --etcd` follows (/meshlet)\n"
            "      --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE\n"
            "                        https:// endpoints: the CA to trust, this client's pair\n"
            "      --dry-run         read and check, print what would change, write nothing\n"
            "      --wait[=TIME]     then wait (up to TIME, default 30s) until every instance\n"
            "                        following the store serves it (`meshlet status`)\n"
            "  -n, --namespace NS    for resources without metadata.namespace (default); they\n"
            "                        are stored with it\n"
            "exit: 0 applied (or nothing to change), 1 the resulting config has errors, 2 usage\n"
            "or unreadable files, 3 a key changed since it was read (nothing written: read\n"
            "again and retry), 4 etcd unreachable or refused the call, 5 --wait: not every\n"
            "instance served it in time (they are listed)\n");
}

int
cmd_apply(int argc, char **argv)
{
    struct flags fl;
    int rc = parse_flags(argc, argv, "apply", TAKES_FILES | TAKES_NS | TAKES_DRY_RUN | TAKES_WAIT,
                         apply_usage, &fl);
    if (rc) {
        free(fl.files);
        return rc < 0 ? CLI_OK : rc;
    }
    if (optind < argc || !fl.n_files) {
        fprintf(stderr,
                optind < argc ? "meshlet apply: unexpected '%s'; files go after -f\n"
                              : "meshlet apply: give the files: -f PATH%s\n",
                optind < argc ? argv[optind] : "");
        free(fl.files);
        return CLI_USAGE;
    }
    struct store st;
    struct changes cs = {0};
    rc = store_open(&st, "apply", fl.urls, fl.prefix, fl.ca, fl.cert, fl.key);
    if (!rc) {
        cs.st = &st;
        cs.ns = fl.ns;
        rc = changes_load(&cs, fl.files, fl.n_files);
    }
    if (!rc) rc = store_read(&st, st.prefix, false);
    for (size_t i = 0; !rc && i < cs.n; i++) {
        struct change *ch = &cs.v[i];
        struct stored *s = store_find(&st, ch->key);
        ch->outcome = !s                                                          ? CREATED
                      : s->len == ch->len && !memcmp(s->value, ch->text, ch->len) ? UNCHANGED
                                                                                  : CONFIGURED;
        ch->expect = s ? s->mod_revision : 0;
        if (s) s->replaced = true;
    }
    if (!rc) rc = check_result(&st, fl.files, fl.n_files, fl.ns);
    if (!rc && !fl.dry_run) {
        test_delay(&st);
        rc = write_changes(&st, cs.v, cs.n);
    }
    if (!rc) print_outcomes(&st, cs.v, cs.n, fl.dry_run);
    if (!rc && fl.wait_ms && !fl.dry_run) rc = wait_fleet(&st, fl.wait_ms);
    changes_fini(&cs);
    store_fini(&st);
    free(fl.files);
    return rc;
}

/* --- meshlet get --- */

static void
get_usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet get [KIND [NS/NAME]] --etcd URL[,URL...] [--etcd-prefix P]\n"
            "                   [-o table|yaml|json]\n"
            "\n"
            "What the store holds under P: every resource, those of KIND, or one.\n"
            "\n"
            "      --etcd URL[,URL]  etcd's client URLs (http://IP:PORT); the first that answers\n"
            "      --etcd-prefix P   the key prefix `meshlet run --etcd` follows (/meshlet)\n"
            "      --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE\n"
            "                        https:// endpoints: the CA to trust, this client's pair\n"
            "  -o table              (default) KIND, NAMESPACE, NAME and the key's revision\n"
            "  -o yaml               each stored document as it was applied, separated by ---\n"
            "  -o json               a List of the resources (apiVersion v1, kind List, items)\n"
            "exit: 0 found, 1 KIND NS/NAME not found, 2 usage, 4 etcd unreachable or refused\n");
}

/* <yaml> as one JSON value (libfyaml's emitter), appended to <out>. */
static bool
as_json(const char *yaml, size_t len, struct strbuf *out)
{
    struct fy_document *doc = source_document(yaml, len, false);
    char *t = doc ? fy_emit_document_to_string(doc, FYECF_MODE_JSON | FYECF_INDENT_2 |
                                                        FYECF_NO_ENDING_NEWLINE)
                  : NULL;
    fy_document_destroy(doc);
    if (!t) return false;
    /* Indent the object as an item of the List. */
    for (const char *p = t; *p; p++) {
        strbuf_add(out, p, 1);
        if (*p == '\n') strbuf_puts(out, "    ");
    }
    free(t);
    return true;
}

int
cmd_apply_get(int argc, char **argv)
{
    struct flags fl;
    int rc = parse_flags(argc, argv, "get", TAKES_OUTPUT, get_usage, &fl);
    free(fl.files);
    if (rc) return rc < 0 ? CLI_OK : rc;
    const char *kind = optind < argc ? argv[optind] : NULL;
    const char *nsname = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (optind + 2 < argc || (kind && !is_segment(kind)) || (nsname && !cli_is_ns_name(nsname))) {
        get_usage(stderr);
        return CLI_USAGE;
    }
    struct store st;
    rc = store_open(&st, "get", fl.urls, fl.prefix, fl.ca, fl.cert, fl.key);
    char *under = NULL;
    if (!rc) {
        size_t len =
            strlen(st.prefix) + (kind ? strlen(kind) : 0) + (nsname ? strlen(nsname) : 0) + 3;
        under = malloc(len);
        if (under)
            snprintf(under, len, "%s%s%s%s", st.prefix, kind ? kind : "", kind ? "/" : "",
                     nsname ? nsname : "");
        rc = under ? store_read(&st, under, nsname != NULL) : CLI_USAGE;
    }
    if (!rc && nsname && !st.n) {
        fprintf(stderr, "meshlet get: %s %s not found\n", kind, nsname);
        rc = CLI_ERRORS;
    }
    const char *o = fl.output ? fl.output : "table";
    struct strbuf out;
    strbuf_init(&out, (size_t)1 << 30);
    if (!rc && !strcmp(o, "yaml")) {
        for (size_t i = 0; i < st.n; i++) {
            if (i) strbuf_puts(&out, "---\n");
            strbuf_add(&out, st.kvs[i].value, st.kvs[i].len);
            if (!st.kvs[i].len || st.kvs[i].value[st.kvs[i].len - 1] != '\n')
                strbuf_puts(&out, "\n");
        }
    } else if (!rc && !strcmp(o, "json")) {
        strbuf_puts(&out, "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [");
        for (size_t i = 0; i < st.n && !rc; i++) {
            strbuf_puts(&out, i ? ",\n    " : "\n    ");
            if (!as_json(st.kvs[i].value, st.kvs[i].len, &out)) {
                fprintf(stderr, "meshlet get: %s@%" PRId64 " is not one YAML or JSON document\n",
                        st.kvs[i].key, st.kvs[i].mod_revision);
                rc = CLI_ERRORS;
            }
        }
        strbuf_puts(&out, st.n ? "\n  ]\n}\n" : "]\n}\n");
    } else if (!rc) {
        strbuf_printf(&out, "%-20s %-16s %-32s %s\n", "KIND", "NAMESPACE", "NAME", "REVISION");
        for (size_t i = 0; i < st.n; i++) {
            char k[256] = "", ns[256] = "", name[512] = "";
            sscanf(display(&st, st.kvs[i].key), "%255[^/]/%255[^/]/%511s", k, ns, name);
            strbuf_printf(&out, "%-20s %-16s %-32s %" PRId64 "\n", k, ns, name,
                          st.kvs[i].mod_revision);
        }
    }
    if (!rc) fwrite(strbuf_str(&out), 1, out.len, stdout);
    strbuf_fini(&out);
    free(under);
    store_fini(&st);
    return rc;
}

/* --- meshlet delete --- */

static void
delete_usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet delete KIND NS/NAME --etcd URL[,URL...] [--etcd-prefix P] [--dry-run]\n"
            "       meshlet delete -f PATH... --etcd URL[,URL...] [--etcd-prefix P] [--dry-run]\n"
            "                      [-n NS]\n"
            "\n"
            "Delete one resource, or those the files name, from the store in one transaction\n"
            "that fails if a key changed since it was read. What the store holds afterwards\n"
            "is checked first, as apply does. Prints Kind/ns/name deleted per resource.\n"
            "\n"
            "  -f, --filename PATH   delete what the file or directory holds; repeat for more\n"
            "      --etcd URL[,URL]  etcd's client URLs (http://IP:PORT); the first that answers\n"
            "      --etcd-prefix P   the key prefix `meshlet run --etcd` follows (/meshlet)\n"
            "      --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE\n"
            "                        https:// endpoints: the CA to trust, this client's pair\n"
            "      --dry-run         read and check, print what would go, delete nothing\n"
            "  -n, --namespace NS    for resources of the files without metadata.namespace\n"
            "exit: 0 deleted, 1 the resulting config has errors or a resource was not found\n"
            "(the others are deleted), 2 usage, 3 a key changed since it was read (nothing\n"
            "written), 4 etcd unreachable or refused the call\n");
}

int
cmd_apply_delete(int argc, char **argv)
{
    struct flags fl;
    int rc = parse_flags(argc, argv, "delete", TAKES_FILES | TAKES_NS | TAKES_DRY_RUN, delete_usage,
                         &fl);
    if (rc) {
        free(fl.files);
        return rc < 0 ? CLI_OK : rc;
    }
    bool by_name =
        optind + 2 == argc && is_segment(argv[optind]) && cli_is_ns_name(argv[optind + 1]);
    if (fl.n_files ? optind != argc : !by_name) {
        delete_usage(stderr);
        free(fl.files);
        return CLI_USAGE;
    }
    struct store st;
    struct changes cs = {0};
    rc = store_open(&st, "delete", fl.urls, fl.prefix, fl.ca, fl.cert, fl.key);
    cs.st = &st;
    cs.ns = fl.ns;
    if (!rc && fl.n_files) {
        rc = changes_load(&cs, fl.files, fl.n_files);
    } else if (!rc) {
        size_t len = strlen(st.prefix) + strlen(argv[optind]) + strlen(argv[optind + 1]) + 2;
        cs.v = calloc(1, sizeof(*cs.v));
        char *key = malloc(len);
        if (!cs.v || !key) {
            free(key);
            rc = CLI_USAGE;
        } else {
            snprintf(key, len, "%s%s/%s", st.prefix, argv[optind], argv[optind + 1]);
            cs.v[cs.n++] = (struct change){.key = key};
        }
    }
    if (!rc) rc = store_read(&st, st.prefix, false);
    bool missing = false;
    size_t k = 0;
    for (size_t i = 0; !rc && i < cs.n; i++) {
        struct stored *s = store_find(&st, cs.v[i].key);
        free(cs.v[i].text);
        cs.v[i].text = NULL;
        if (!s) {
            fprintf(stderr, "meshlet delete: %s not found\n", display(&st, cs.v[i].key));
            missing = true;
            free(cs.v[i].key);
            free(cs.v[i].file);
            continue;
        }
        s->replaced = true;
        cs.v[i].outcome = DELETED;
        cs.v[i].expect = s->mod_revision;
        cs.v[k++] = cs.v[i];
    }
    if (!rc) cs.n = k;
    if (!rc && cs.n) rc = check_result(&st, NULL, 0, fl.ns);
    if (!rc && cs.n && !fl.dry_run) {
        test_delay(&st);
        rc = write_changes(&st, cs.v, cs.n);
    }
    if (!rc) print_outcomes(&st, cs.v, cs.n, fl.dry_run);
    if (!rc && missing) rc = CLI_ERRORS;
    changes_fini(&cs);
    store_fini(&st);
    free(fl.files);
    return rc;
}
