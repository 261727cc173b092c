/* SPDX-License-Identifier: Apache-2.0 */
/* See store.h. */
#include "cli/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "control/etcd.h"
#include "tls/conn.h"

#define STORE_CALL_MS 10000

void
store_fini(struct store *st)
{
    for (size_t i = 0; i < st->n; i++) {
        free(st->kvs[i].key);
        free(st->kvs[i].value);
    }
    free(st->kvs);
    free(st->eps);
    free(st->prefix);
    tls_upstream_free(st->tls);
    for (size_t i = 0; i < st->n_names; i++) free(st->names[i]);
    free(st->names);
    free(st->docs);
    memset(st, 0, sizeof(*st));
}

int
store_open(struct store *st, const char *cmd, const char *urls, const char *prefix, const char *ca,
           const char *cert, const char *key)
{
    memset(st, 0, sizeof(*st));
    st->cmd = cmd;
    char err[512];
    if (!urls) {
        fprintf(stderr, "meshlet %s: give the store: --etcd http://IP:PORT[,...]\n", cmd);
        return CLI_USAGE;
    }
    if (etcd_endpoints_parse(urls, &st->eps, &st->n_eps, err, sizeof(err)) ||
        etcd_endpoints_tls(st->eps, st->n_eps, ca, cert, key, &st->tls, err, sizeof(err))) {
        fprintf(stderr, "meshlet %s: --etcd %s\n", cmd, err);
        return CLI_USAGE;
    }
    if (*prefix != '/') {
        fprintf(stderr, "meshlet %s: --etcd-prefix: expected a key prefix such as /meshlet\n", cmd);
        return CLI_USAGE;
    }
    size_t n = strlen(prefix);
    st->prefix = malloc(n + 2);
    if (!st->prefix) return CLI_USAGE;
    memcpy(st->prefix, prefix, n + 1);
    if (prefix[n - 1] != '/') memcpy(st->prefix + n, "/", 2);
    return CLI_OK;
}

int
store_call(struct store *st, const char *path, const struct strbuf *body, struct strbuf *out)
{
    char err[512];
    int status = 0;
    if (body->truncated) {
        fprintf(stderr, "meshlet %s: the request is too large\n", st->cmd);
        return EXIT_STORE;
    }
    if (etcd_call(st->eps, st->n_eps, path, body->data, body->len, STORE_CALL_MS, &status, out, err,
                  sizeof(err))) {
        fprintf(stderr, "meshlet %s: %s\n", st->cmd, err);
        return EXIT_STORE;
    }
    if (status != 200 || out->truncated) {
        fprintf(stderr, "meshlet %s: etcd %s answered HTTP %d: %.300s\n", st->cmd, path, status,
                out->truncated ? "(answer too large)" : strbuf_str(out));
        return EXIT_STORE;
    }
    return CLI_OK;
}

static void
on_kv(void *arg, const struct etcd_kv *kv)
{
    struct store *st = arg;
    size_t p = strlen(st->prefix);
    if (kv->key_len <= p || kv->key[p] == '.') return; /* PREFIX/.status/...: not config */
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        struct stored *a = realloc(st->kvs, cap * sizeof(*a));
        if (!a) return;
        st->kvs = a;
        st->cap = cap;
    }
    struct stored *s = &st->kvs[st->n];
    s->key = strndup(kv->key, kv->key_len);
    s->value = malloc(kv->value_len + 1);
    if (!s->key || !s->value) {
        free(s->key);
        free(s->value);
        return;
    }
    memcpy(s->value, kv->value, kv->value_len);
    s->value[kv->value_len] = '\0';
    s->len = kv->value_len;
    s->mod_revision = kv->mod_revision;
    s->replaced = false;
    st->n++;
}

int
store_read(struct store *st, const char *under, bool one)
{
    struct strbuf body, out;
    strbuf_init(&body, 1 << 16);
    strbuf_init(&out, STORE_ANSWER_MAX);
    etcd_range_keys_body(&body, under, !one);
    int rc = store_call(st, "/v3/kv/range", &body, &out);
    char err[512];
    if (!rc &&
        etcd_parse_range(strbuf_str(&out), out.len, &st->revision, on_kv, st, err, sizeof(err))) {
        fprintf(stderr, "meshlet %s: %s\n", st->cmd, err);
        rc = EXIT_STORE;
    }
    strbuf_fini(&body);
    strbuf_fini(&out);
    return rc;
}

struct stored *
store_find(struct store *st, const char *key)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->kvs[i].key, key)) return &st->kvs[i];
    return NULL;
}

ssize_t
store_docs(struct store *st, const struct source_doc **docs)
{
    for (size_t i = 0; i < st->n_names; i++) free(st->names[i]);
    free(st->names);
    free(st->docs);
    st->n_names = 0;
    st->docs = calloc(st->n + 1, sizeof(*st->docs));
    st->names = calloc(st->n + 1, sizeof(*st->names));
    if (!st->docs || !st->names) return -1;
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (st->kvs[i].replaced) continue; /* apply: not in the resulting config */
        size_t len = strlen(st->kvs[i].key) + 24;
        if (!(st->names[k] = malloc(len))) return -1;
        st->n_names++;
        snprintf(st->names[k], len, "%s@%lld", st->kvs[i].key, (long long)st->kvs[i].mod_revision);
        st->docs[k] = (struct source_doc){st->names[k], st->kvs[i].value, st->kvs[i].len};
        k++;
    }
    *docs = st->docs;
    return (ssize_t)k;
}
