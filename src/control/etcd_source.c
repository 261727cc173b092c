/* SPDX-License-Identifier: Apache-2.0 */
/* See etcd_source.h. The state machine: RANGE (read every key at one revision) -> WATCH
 * (from that revision + 1, for ever) -> on any failure BACKOFF, then WATCH again from the
 * revision the items reflect (or RANGE when no range was read yet, or the watch was
 * cancelled for compaction). Items change only from a range's answer or a watch event, and
 * every change arms the settle timer that reloads. [M] */
#include "control/etcd_source.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/etcd.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/prng.h"
#include "core/sock.h"

/* A steady stream of changes still reloads: every second, or ten debounces if longer. */
#define SETTLE_MAX_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define RANGE_TIMEOUT_MS 30000

static void next_step(struct etcd_source *es);

/* --- Items: the keys under the prefix, sorted. --- */

static void
entry_free(struct etcd_entry *e)
{
    free(e->key);
    free(e->value);
    free(e->name);
}

/* Whether <key> (under the prefix) names a resource: not PREFIX/.status/... nor the prefix
 * itself. */
static bool
is_config(const struct etcd_source *es, const char *key, size_t len)
{
    size_t p = strlen(es->prefix);
    return len > p && key[p] != '.';
}

static bool
entry_set(struct etcd_entry *e, const struct etcd_kv *kv)
{
    char name[64];
    snprintf(name, sizeof(name), "@%" PRId64, kv->mod_revision);
    char *key = strndup(kv->key, kv->key_len);
    char *value = malloc(kv->value_len + 1);
    char *full = key ? malloc(kv->key_len + strlen(name) + 1) : NULL;
    if (!key || !value || !full) {
        free(key);
        free(value);
        free(full);
        return false;
    }
    memcpy(value, kv->value, kv->value_len);
    value[kv->value_len] = '\0';
    memcpy(full, kv->key, kv->key_len);
    memcpy(full + kv->key_len, name, strlen(name) + 1);
    entry_free(e);
    *e = (struct etcd_entry){key, value, kv->value_len, kv->mod_revision, full};
    return true;
}

/* Where <key> is in <items> (or would go): its index; *found says whether it is there. */
static size_t
find(const struct etcd_entry *items, size_t n, const char *key, size_t len, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t klen = strlen(items[mid].key);
        int c = memcmp(items[mid].key, key, klen < len ? klen : len);
        if (!c) c = klen < len ? -1 : klen > len;
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Put or delete <kv> in the array <*items> of <*n> (capacity <*cap>). false: no memory. */
static bool
apply(struct etcd_entry **items, size_t *n, size_t *cap, const struct etcd_kv *kv)
{
    bool found;
    size_t i = find(*items, *n, kv->key, kv->key_len, &found);
    if (kv->deleted) {
        if (!found) return true;
        entry_free(&(*items)[i]);
        memmove(&(*items)[i], &(*items)[i + 1], (*n - i - 1) * sizeof(**items));
        (*n)--;
        return true;
    }
    if (!found) {
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            struct etcd_entry *a = realloc(*items, c * sizeof(*a));
            if (!a) return false;
            *items = a;
            *cap = c;
        }
        memmove(&(*items)[i + 1], &(*items)[i], (*n - i) * sizeof(**items));
        (*items)[i] = (struct etcd_entry){0};
        (*n)++;
    }
    if (entry_set(&(*items)[i], kv)) return true;
    if (!found) { /* drop the empty slot again */
        memmove(&(*items)[i], &(*items)[i + 1], (*n - i - 1) * sizeof(**items));
        (*n)--;
    }
    return false;
}

static void
clear(struct etcd_entry *items, size_t *n)
{
    for (size_t i = 0; i < *n; i++) entry_free(&items[i]);
    *n = 0;
}

/* --- Reloads. --- */

static const struct reload_source *
current(void *arg)
{
    struct etcd_source *es = arg;
    struct source_doc *docs = realloc(es->docs, (es->n_items + 1) * sizeof(*docs));
    if (docs) {
        es->docs = docs;
        for (size_t i = 0; i < es->n_items; i++)
            docs[i] =
                (struct source_doc){es->items[i].name, es->items[i].value, es->items[i].value_len};
    }
    es->source = (struct reload_source){.docs = es->docs,
                                        .n_docs = docs ? es->n_items : 0,
                                        .revision = es->revision,
                                        .store = true};
    es->dirty = false; /* a reload reads them now */
    return &es->source;
}

static void
on_settled(struct wheel_timer *t)
{
    struct etcd_source *es = container_of(t, struct etcd_source, settle);
    es->first_change_ms = 0;
    if (!es->dirty) return;
    char why[64];
    snprintf(why, sizeof(why), "etcd revision %" PRId64, es->revision);
    es->reloads++;
    if (reload_run(es->rl, NULL, why, NULL) == RELOAD_OK) es->applied = es->rl->revision;
}

static void
changed(struct etcd_source *es)
{
    es->dirty = true;
    if (!es->rl->snap) return; /* the first load reads them */
    uint64_t now = now_ms();
    if (!es->first_change_ms) es->first_change_ms = now;
    uint64_t due = now + es->settle_ms;
    uint64_t most = es->settle_ms * 10 > SETTLE_MAX_MS ? es->settle_ms * 10 : SETTLE_MAX_MS;
    if (due > es->first_change_ms + most) due = es->first_change_ms + most;
    wheel_arm(&es->loop->wheel, &es->settle, due);
}

/* --- Failures. --- */

static void
fail(struct etcd_source *es, const char *what)
{
    const struct etcd_endpoint *ep = &es->endpoints[es->current];
    uint64_t cap = BACKOFF_MIN_MS << (es->failures < 6 ? es->failures : 6);
    if (cap > BACKOFF_MAX_MS) cap = BACKOFF_MAX_MS;
    uint64_t delay = cap / 2 + prng_next() % (cap / 2 + 1); /* jittered: a fleet spreads out */
    es->failures++;
    snprintf(es->last_error, sizeof(es->last_error), "etcd %s: %s", ep->host, what);
    log_msg(es->failures == 1 ? LOG_WARNING : LOG_DEBUG, "%s; again in %" PRIu64 " ms%s",
            es->last_error, delay, es->n_endpoints > 1 ? " on the next endpoint" : "");
    es->current = (es->current + 1) % es->n_endpoints;
    es->state = ETCD_BACKOFF;
    etcd_http_cancel(&es->http);
    wheel_arm(&es->loop->wheel, &es->backoff, now_ms() + delay);
}

static void
on_backoff(struct wheel_timer *t)
{
    next_step(container_of(t, struct etcd_source, backoff));
}

static void
ended(struct etcd_source *es, int err, const char *call)
{
    char what[256];
    if (err)
        snprintf(what, sizeof(what), "%s: %s", call,
                 es->http.why[0] ? es->http.why : strerror(-err));
    else
        snprintf(what, sizeof(what), "%s: HTTP %d: %.150s", call, es->http.status,
                 es->got.data ? es->got.data : "");
    fail(es, what);
}

/* --- The range. --- */

static void
on_range_data(struct etcd_http *h, const char *p, size_t n)
{
    struct etcd_source *es = h->arg;
    strbuf_add(&es->got, p, n);
}

static void
range_kv(void *arg, const struct etcd_kv *kv)
{
    struct etcd_source *es = arg;
    if (!is_config(es, kv->key, kv->key_len)) return;
    if (!apply(&es->next_items, &es->n_next, &es->cap_next, kv)) es->got.truncated = true;
}

/* Whether two sorted item lists hold the same keys at the same revisions. */
static bool
same(const struct etcd_entry *a, size_t na, const struct etcd_entry *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].mod_revision != b[i].mod_revision || strcmp(a[i].key, b[i].key)) return false;
    return true;
}

static void
on_range_end(struct etcd_http *h, int err)
{
    struct etcd_source *es = h->arg;
    if (err || h->status != 200) {
        ended(es, err, "range");
        return;
    }
    char why[512];
    int64_t revision;
    clear(es->next_items, &es->n_next);
    if (es->got.truncated ||
        etcd_parse_range(es->got.data ? es->got.data : "", es->got.len, &revision, range_kv, es,
                         why, sizeof(why)) ||
        es->got.truncated) {
        fail(es, es->got.truncated ? "range: out of memory" : why);
        return;
    }
    bool differs = !same(es->items, es->n_items, es->next_items, es->n_next);
    struct etcd_entry *swap = es->items;
    size_t cap = es->cap_items, n = es->n_items;
    es->items = es->next_items;
    es->n_items = es->n_next;
    es->cap_items = es->cap_next;
    es->next_items = swap;
    es->n_next = n;
    es->cap_next = cap;
    clear(es->next_items, &es->n_next);
    /* The answer and its parse were many times the config's size: give the memory back
     * (the watch's messages are small; a large store's first read must not stay in RSS). */
    strbuf_fini(&es->got);
    strbuf_init(&es->got, 256u << 20);
    malloc_trim(0);
    es->revision = revision;
    if (!es->synced)
        log_msg(LOG_INFO, "etcd %s: %zu resource(s) under %s at revision %" PRId64,
                es->endpoints[es->current].host, es->n_items, es->prefix, revision);
    es->synced = true;
    if (differs) changed(es);
    es->state = ETCD_WATCH;
    next_step(es);
}

/* --- The watch. --- */

/* A watch message's events: those at or below <floor> were seen (a resumed watch may
 * repeat them); a transaction's events share one revision and come in one message. */
struct watch_batch {
    struct etcd_source *es;
    int64_t floor, top;
};

static void
watch_kv(void *arg, const struct etcd_kv *kv)
{
    struct watch_batch *b = arg;
    struct etcd_source *es = b->es;
    if (kv->mod_revision <= b->floor) return;
    if (kv->mod_revision > b->top) b->top = kv->mod_revision;
    if (!is_config(es, kv->key, kv->key_len)) return;
    if (!apply(&es->items, &es->n_items, &es->cap_items, kv)) {
        es->got.truncated = true; /* resync: the change cannot be kept */
        return;
    }
    changed(es);
}

/* One message of the watch's stream; false when the watch ended. */
static bool
watch_message(struct etcd_source *es, const char *p, size_t n)
{
    struct etcd_watch_msg m;
    char why[512];
    struct watch_batch b = {es, es->revision, es->revision};
    es->watch_msgs++;
    int rc = etcd_parse_watch(p, n, &m, watch_kv, &b, why, sizeof(why));
    es->revision = b.top;
    if (rc) {
        es->synced = false; /* some of its events may be applied: read everything again */
        fail(es, why);
        return false;
    }
    if (es->got.truncated) {
        es->got.truncated = false;
        es->state = ETCD_RANGE;
        fail(es, "watch: out of memory for a change; reading everything again");
        return false;
    }
    if (m.created && !es->watch_confirmed) {
        es->watch_confirmed = true;
        if (es->failures)
            log_msg(LOG_INFO, "etcd %s: watching %s again from revision %" PRId64,
                    es->endpoints[es->current].host, es->prefix, es->revision + 1);
        es->failures = 0;
        es->last_error[0] = '\0';
    }
    if (m.canceled) {
        if (m.compact_revision) { /* what we missed is gone: read it all again */
            log_msg(LOG_WARNING,
                    "etcd: revision %" PRId64 " was compacted (now %" PRId64 "); reading "
                    "every key again",
                    es->revision + 1, m.compact_revision);
            es->synced = false;
            es->state = ETCD_BACKOFF; /* not from inside the exchange's own callback */
            etcd_http_cancel(&es->http);
            wheel_arm(&es->loop->wheel, &es->backoff, now_ms());
        } else {
            fail(es, "watch cancelled");
        }
        return false;
    }
    return true;
}

static void
on_watch_data(struct etcd_http *h, const char *p, size_t n)
{
    struct etcd_source *es = h->arg;
    if (h->status != 200) {
        strbuf_add(&es->got, p, n);
        return;
    }
    /* The gateway ends every message with a newline. */
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        strbuf_add(&es->got, p, k);
        if (!nl) return;
        p += k + 1;
        n -= k + 1;
        bool more = es->got.len ? watch_message(es, es->got.data, es->got.len) : true;
        es->got.len = 0;
        if (!more) return;
    }
}

static void
on_watch_end(struct etcd_http *h, int err)
{
    struct etcd_source *es = h->arg;
    ended(es, err ? err : h->status == 200 ? -ECONNRESET : 0, "watch");
}

/* --- Steps. --- */

static void
next_step(struct etcd_source *es)
{
    const struct etcd_endpoint *ep = &es->endpoints[es->current];
    es->got.len = 0;
    es->got.truncated = false;
    struct strbuf body;
    strbuf_init(&body, 1 << 20);
    bool range = !es->synced;
    if (range)
        etcd_range_body(&body, es->prefix);
    else
        etcd_watch_body(&body, es->prefix, es->revision + 1);
    es->state = range ? ETCD_RANGE : ETCD_WATCH;
    es->watch_confirmed = false;
    int rc =
        etcd_http_post(&es->http, ep, range ? "/v3/kv/range" : "/v3/watch", body.data, body.len,
                       range ? RANGE_TIMEOUT_MS : 0, range ? on_range_data : on_watch_data,
                       range ? on_range_end : on_watch_end);
    strbuf_fini(&body);
    if (rc) ended(es, rc, range ? "range" : "watch");
}

/* --- Set-up. --- */

int
etcd_source_endpoints(struct etcd_source *es, const char *urls, char *err, size_t err_len)
{
    return etcd_endpoints_parse(urls, &es->endpoints, &es->n_endpoints, err, err_len);
}

void
etcd_source_start(struct etcd_source *es, struct loop *loop, const char *prefix, struct reload *rl)
{
    es->loop = loop;
    es->rl = rl;
    if (!es->settle_ms) es->settle_ms = ETCD_SETTLE_MS;
    size_t n = strlen(prefix);
    es->prefix = malloc(n + 2);
    if (es->prefix) {
        memcpy(es->prefix, prefix, n + 1);
        if (!n || prefix[n - 1] != '/') memcpy(es->prefix + n, "/", 2); /* not /meshlet2/... */
    }
    etcd_http_init(&es->http, loop);
    es->http.arg = es;
    strbuf_init(&es->got, 256u << 20);
    es->settle.cb = on_settled;
    es->backoff.cb = on_backoff;
    rl->store = current;
    rl->store_arg = es;
    if (!es->prefix) {
        fail(es, "out of memory");
        return;
    }
    next_step(es);
}

static void
stop_when_news(void *arg)
{
    struct etcd_source *es = arg;
    if (es->synced && es->dirty) loop_stop(es->loop);
}

void
etcd_source_wait(struct etcd_source *es)
{
    if (!(es->synced && es->dirty)) loop_run(es->loop, stop_when_news, es);
}

void
etcd_source_fini(struct etcd_source *es)
{
    if (es->loop) {
        wheel_disarm(&es->loop->wheel, &es->settle);
        wheel_disarm(&es->loop->wheel, &es->backoff);
        etcd_http_fini(&es->http);
    }
    clear(es->items, &es->n_items);
    clear(es->next_items, &es->n_next);
    free(es->items);
    free(es->next_items);
    free(es->docs);
    free(es->prefix);
    free(es->endpoints);
    strbuf_fini(&es->got);
    memset(es, 0, sizeof(*es));
}
