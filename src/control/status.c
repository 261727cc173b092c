/* SPDX-License-Identifier: Apache-2.0 */
/* See status.h. Calls in turn on one connection: GRANT a lease, PUT the value bound to it,
 * then KEEPALIVE every third of the lease's time; a keep-alive that finds the lease gone
 * (etcd was down longer than the lease) grants a new one and puts again. A value that
 * changes while a call is out is put after it. Failures retry with back-off on the next
 * endpoint. [M] */
#include "control/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base64.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/prng.h"
#include "model/model.h"

#define STATUS_TIMEOUT_MS 5000
#define STATUS_RETRY_MIN_MS 500
#define STATUS_RETRY_MAX_MS 5000

static void next_call(struct etcd_status *st);

static void
on_data(struct etcd_http *h, const char *p, size_t n)
{
    struct etcd_status *st = h->arg;
    strbuf_add(&st->got, p, n);
}

/* A number field of the answer (the gateway writes int64 as "123"). */
static int64_t
field(const struct etcd_status *st, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    const char *p = st->got.data ? strstr(st->got.data, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : 0;
}

static void
retry(struct etcd_status *st, const char *why)
{
    uint64_t cap = (uint64_t)STATUS_RETRY_MIN_MS << (st->failures < 4 ? st->failures : 4);
    if (cap > STATUS_RETRY_MAX_MS) cap = STATUS_RETRY_MAX_MS;
    uint64_t delay = cap / 2 + prng_next() % (cap / 2 + 1);
    if (!st->failures++)
        log_msg(LOG_WARNING, "etcd %s: status key %s: %s; again in %" PRIu64 " ms",
                st->endpoints[st->current].host, st->key, why, delay);
    st->current = (st->current + 1) % st->n_endpoints;
    st->call = STATUS_NONE;
    wheel_arm(&st->loop->wheel, &st->timer, now_ms() + delay);
}

static void
on_end(struct etcd_http *h, int err)
{
    struct etcd_status *st = h->arg;
    enum status_call call = st->call;
    st->call = STATUS_NONE;
    if (err || h->status != 200 || (st->got.data && strstr(st->got.data, "\"error\""))) {
        char why[256];
        snprintf(why, sizeof(why), "%s", err ? "no answer" : st->got.data ? st->got.data : "");
        if (call == STATUS_PUT && st->got.data && strstr(st->got.data, "lease not found"))
            st->lease = 0; /* grant a new one next */
        retry(st, why);
        return;
    }
    st->failures = 0;
    uint64_t renewed = now_ms() + st->ttl_s * 1000ull / 3;
    if (call == STATUS_GRANT) {
        st->lease = field(st, "ID");
        st->stale = true;
        st->keepalive_due = renewed;
    } else if (call == STATUS_PUT) {
        st->writes++;
    } else if (call == STATUS_KEEPALIVE && field(st, "TTL") <= 0) {
        st->lease = 0; /* expired while etcd could not be reached: its key went with it */
        st->stale = true;
    } else if (call == STATUS_KEEPALIVE) {
        st->keepalive_due = renewed;
    }
    next_call(st);
}

static void
post(struct etcd_status *st, enum status_call call, const char *path, const struct strbuf *body)
{
    const struct etcd_endpoint *ep = &st->endpoints[st->current];
    st->got.len = 0;
    st->call = call;
    int rc = etcd_http_post(&st->http, ep, path, body->data, body->len, STATUS_TIMEOUT_MS, on_data,
                            on_end);
    if (rc) retry(st, "cannot connect");
}

/* The value: what this instance serves now. */
static void
value(const struct etcd_status *st, struct strbuf *sb)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    strbuf_puts(sb, "{\"instance\":");
    strbuf_json_str(sb, st->instance);
    strbuf_puts(sb, ",\"address\":");
    strbuf_json_str(sb, st->address);
    strbuf_printf(sb, ",\"revision\":%" PRId64 ",\"config_version\":%" PRIu64 ",\"last_error\":",
                  st->rl->revision, st->rl->snap ? st->rl->snap->version : 0);
    strbuf_json_str(sb, st->rl->last_error);
    strbuf_printf(sb, ",\"time\":\"%s\"}", when);
}

static void
next_call(struct etcd_status *st)
{
    struct strbuf body;
    strbuf_init(&body, 1 << 16);
    if (!st->lease) {
        strbuf_printf(&body, "{\"TTL\":\"%u\"}", st->ttl_s);
        post(st, STATUS_GRANT, "/v3/lease/grant", &body);
    } else if (st->stale) {
        st->stale = false;
        struct strbuf v;
        strbuf_init(&v, 1 << 15);
        value(st, &v);
        char *k = malloc(base64_encoded_len(strlen(st->key)) + 1);
        char *b = malloc(base64_encoded_len(v.len) + 1);
        if (k && b) {
            base64_encode(st->key, strlen(st->key), k);
            base64_encode(v.data, v.len, b);
            strbuf_printf(&body, "{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%" PRId64 "\"}", k,
                          b, st->lease);
            post(st, STATUS_PUT, "/v3/kv/put", &body);
        } else {
            st->stale = true;
            retry(st, "out of memory");
        }
        free(k);
        free(b);
        strbuf_fini(&v);
    } else { /* the next keep-alive, a third of the lease's time after the last one: puts
              * renew nothing, so changes written often must not push it back */
        wheel_arm(&st->loop->wheel, &st->timer,
                  st->keepalive_due ? st->keepalive_due : now_ms() + st->ttl_s * 1000ull / 3);
    }
    strbuf_fini(&body);
}

static void
on_timer(struct wheel_timer *t)
{
    struct etcd_status *st = container_of(t, struct etcd_status, timer);
    if (st->call != STATUS_NONE) return;
    if (!st->lease || st->stale) {
        next_call(st);
        return;
    }
    struct strbuf body;
    strbuf_init(&body, 256);
    strbuf_printf(&body, "{\"ID\":\"%" PRId64 "\"}", st->lease);
    post(st, STATUS_KEEPALIVE, "/v3/lease/keepalive", &body);
    strbuf_fini(&body);
}

void
etcd_status_start(struct etcd_status *st, struct loop *loop, const struct etcd_endpoint *eps,
                  size_t n_eps, const char *prefix, const char *instance, const char *address,
                  unsigned ttl_s, const struct reload *rl)
{
    memset(st, 0, sizeof(*st));
    st->loop = loop;
    st->rl = rl;
    st->endpoints = eps;
    st->n_endpoints = n_eps;
    st->ttl_s = ttl_s < 3 ? 3 : ttl_s;
    snprintf(st->instance, sizeof(st->instance), "%s", instance);
    snprintf(st->address, sizeof(st->address), "%s", address);
    size_t n = strlen(prefix) + strlen(STATUS_DIR) + strlen(st->instance) + 1;
    st->key = malloc(n);
    if (st->key) snprintf(st->key, n, "%s%s%s", prefix, STATUS_DIR, st->instance);
    etcd_http_init(&st->http, loop);
    st->http.arg = st;
    strbuf_init(&st->got, 1 << 16);
    st->timer.cb = on_timer;
    st->stale = true;
    if (st->key) next_call(st);
}

void
etcd_status_changed(struct etcd_status *st)
{
    if (!st->key) return;
    st->stale = true;
    if (st->call == STATUS_NONE && st->lease && !st->failures) {
        wheel_disarm(&st->loop->wheel, &st->timer);
        next_call(st);
    }
}

void
etcd_status_fini(struct etcd_status *st)
{
    if (st->lease) { /* gone at once, not a lease's time later: `meshlet status` knows */
        struct strbuf body, out;
        strbuf_init(&body, 256);
        strbuf_init(&out, 1 << 16);
        strbuf_printf(&body, "{\"ID\":\"%" PRId64 "\"}", st->lease);
        int status;
        char err[256];
        etcd_call(&st->endpoints[st->current], 1, "/v3/lease/revoke", body.data, body.len, 1000,
                  &status, &out, err, sizeof(err));
        strbuf_fini(&body);
        strbuf_fini(&out);
    }
    if (st->loop) {
        wheel_disarm(&st->loop->wheel, &st->timer);
        etcd_http_fini(&st->http);
    }
    strbuf_fini(&st->got);
    free(st->key);
    memset(st, 0, sizeof(*st));
}
