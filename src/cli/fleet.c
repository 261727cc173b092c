/* SPDX-License-Identifier: Apache-2.0 */
/* See fleet.h. */
#include "cli/fleet.h"

#include <libfyaml.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/etcd.h"
#include "control/status.h"
#include "core/strbuf.h"
#include "config/source.h"

#define MAX_INSTANCES 4096

struct reading {
    struct fleet *f;
    const char *prefix;
};

static char *
text_at(struct fy_node *root, const char *key)
{
    struct fy_node *n = fy_node_mapping_lookup_by_string(root, key, FY_NT);
    size_t len;
    const char *s = n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar(n, &len) : NULL;
    return s ? strndup(s, len) : strdup("");
}

static void
on_kv(void *arg, const struct etcd_kv *kv)
{
    struct reading *r = arg;
    struct fleet *f = r->f;
    size_t p = strlen(r->prefix), d = strlen(STATUS_DIR);
    bool status = kv->key_len > p + d && !memcmp(kv->key + p, STATUS_DIR, d);
    if (!status) {
        if (kv->key_len > p && kv->key[p] != '.' && kv->mod_revision > f->latest)
            f->latest = kv->mod_revision;
        return;
    }
    if (f->n == MAX_INSTANCES) return;
    struct fy_document *doc = source_document(kv->value, kv->value_len, true);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    if (root && fy_node_get_type(root) == FYNT_MAPPING) {
        struct fleet_instance *in = &f->items[f->n++];
        in->name = text_at(root, "instance");
        in->address = text_at(root, "address");
        in->error = text_at(root, "last_error");
        in->time = text_at(root, "time");
        char *rev = text_at(root, "revision"), *ver = text_at(root, "config_version");
        in->revision = rev ? strtoll(rev, NULL, 10) : 0;
        in->version = ver ? strtoull(ver, NULL, 10) : 0;
        free(rev);
        free(ver);
    }
    fy_document_destroy(doc);
}

static int
by_name(const void *a, const void *b)
{
    const struct fleet_instance *x = a, *y = b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int
fleet_read(const struct etcd_endpoint *eps, size_t n_eps, const char *prefix, struct fleet *f,
           char *err, size_t err_len)
{
    memset(f, 0, sizeof(*f));
    f->items = calloc(MAX_INSTANCES, sizeof(*f->items));
    if (!f->items) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    struct strbuf body, got;
    strbuf_init(&body, 4096);
    strbuf_init(&got, 256u << 20);
    etcd_range_body(&body, prefix);
    int status = 0, rc = 0;
    int64_t revision;
    struct reading r = {f, prefix};
    if (etcd_call(eps, n_eps, "/v3/kv/range", body.data, body.len, 10000, &status, &got, err,
                  err_len)) {
        rc = -1;
    } else if (status != 200) {
        snprintf(err, err_len, "etcd answered %d: %.200s", status, strbuf_str(&got));
        rc = -1;
    } else if (etcd_parse_range(strbuf_str(&got), got.len, &revision, on_kv, &r, err, err_len)) {
        rc = -1;
    }
    strbuf_fini(&body);
    strbuf_fini(&got);
    qsort(f->items, f->n, sizeof(*f->items), by_name);
    return rc;
}

void
fleet_free(struct fleet *f)
{
    for (size_t i = 0; f->items && i < f->n; i++) {
        free(f->items[i].name);
        free(f->items[i].address);
        free(f->items[i].error);
        free(f->items[i].time);
    }
    free(f->items);
    memset(f, 0, sizeof(*f));
}

const char *
fleet_state(const struct fleet *f, const struct fleet_instance *in)
{
    if (fleet_serves(in, f->latest)) return "latest";
    return *in->error ? "refused" : "lagging";
}
