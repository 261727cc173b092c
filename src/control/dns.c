/* SPDX-License-Identifier: Apache-2.0 */
/* See dns.h. One c-ares channel; its sockets are loop watches in a fixed table (the loop may
 * still hold an event for a socket c-ares just closed, so a slot outlives its socket), its
 * next timeout one wheel timer. Each name has its own refresh timer. changed() is delivered
 * by a timer armed for the next loop turn, so no caller ever sees it re-entrantly. This file
 * does not decide what a name is for: the model asks for names and reads their sets. [M] */
#include "control/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/now.h"
#include "core/sock.h"
#include "core/wheel.h"

#define DNS_SOCKS 32     /* c-ares opens one UDP socket per server, TCP ones on truncation */
#define DNS_TCP_READS 64 /* bounds one event's catch-up reads (see on_io) */
#define DNS_GATHER 64    /* addresses of one answer looked at (see on_answer) */

struct dns_sock {
    struct loop_watch w; /* fd -1: free */
    struct dns_resolver *r;
    bool want_write; /* c-ares has TCP bytes queued: an edge may not come */
};

struct dns_name {
    struct dns_resolver *r;                       /* borrowed: the owner */
    char *name;                                   /* owned */
    struct sockaddr_storage addrs[DNS_MAX_ADDRS]; /* sorted, zero-padded: memcmp compares */
    size_t n_addrs;
    struct sockaddr_storage first; /* the latest answer's first address, in its order */
    bool querying, answered;
    bool forgotten; /* dns_retain() let it go while a query ran: freed when it ends */
    uint64_t ok_at_ms, started_ms, next_ms, backoff_ms;
    struct wheel_timer refresh;
    uint64_t queries, failures, changes;
    char last_error[128];
};

struct dns_resolver {
    struct loop *loop; /* borrowed */
    ares_channel channel;
    void (*changed)(void *arg);
    void *arg;
    uint64_t min_ms, max_ms;
    struct dns_sock socks[DNS_SOCKS];
    struct wheel_timer timeout; /* c-ares' next query timeout */
    struct wheel_timer notify;  /* changed(), on the next loop turn */
    struct dns_name **names;    /* owned, in the order first looked up */
    size_t n_names, cap_names;
    uint64_t queries, failures; /* of every name ever, let go or not (counters never fall) */
    bool closing;
};

static void
notify(struct dns_resolver *r)
{
    if (!wheel_armed(&r->notify)) wheel_arm(&r->loop->wheel, &r->notify, now_ms());
}

static void
on_notify(struct wheel_timer *t)
{
    struct dns_resolver *r = container_of(t, struct dns_resolver, notify);
    if (r->changed) r->changed(r->arg);
}

/* After every call into c-ares: write what TCP sockets have queued (their writable edge may
 * have passed already) and follow its next timeout. */
static void
after_ares(struct dns_resolver *r)
{
    for (size_t i = 0; i < DNS_SOCKS; i++) {
        struct dns_sock *s = &r->socks[i];
        if (s->w.fd < 0 || !s->want_write) continue;
        s->want_write = false;
        ares_process_fd(r->channel, ARES_SOCKET_BAD, s->w.fd);
    }
    struct timeval tv;
    if (!ares_timeout(r->channel, NULL, &tv)) {
        wheel_disarm(&r->loop->wheel, &r->timeout);
        return;
    }
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    wheel_arm(&r->loop->wheel, &r->timeout, now_ms() + ms);
}

static void
on_timeout(struct wheel_timer *t)
{
    struct dns_resolver *r = container_of(t, struct dns_resolver, timeout);
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    after_ares(r);
}

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct dns_sock *s = container_of(w, struct dns_sock, w);
    int fd = w->fd;
    if (fd < 0) return; /* closed by c-ares earlier in this batch */
    struct dns_resolver *r = s->r;
    bool in = events & (LOOP_IN | LOOP_ERR | LOOP_HUP);
    ares_process_fd(r->channel, in ? fd : ARES_SOCKET_BAD,
                    (events & LOOP_OUT) ? fd : ARES_SOCKET_BAD);
    /* Edge-triggered: c-ares drains a UDP socket, but reads a TCP stream one piece a call. */
    for (int i = 0; in && i < DNS_TCP_READS && s->w.fd == fd; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0) break;
        ares_process_fd(r->channel, fd, ARES_SOCKET_BAD);
    }
    after_ares(r);
}

static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_resolver *r = data;
    struct dns_sock *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < DNS_SOCKS; i++) {
        if (r->socks[i].w.fd == fd) s = &r->socks[i];
        if (r->socks[i].w.fd < 0 && !free_slot) free_slot = &r->socks[i];
    }
    if (!readable && !writable) {
        if (!s) return;
        loop_del(r->loop, &s->w);
        s->w.fd = -1;
        s->want_write = false;
        return;
    }
    if (!s) {
        if (!free_slot) {
            log_msg(LOG_WARNING, "dns: more than %d resolver sockets; a query will time out",
                    DNS_SOCKS);
            return;
        }
        s = free_slot;
        s->w.fd = fd;
        s->w.cb = on_io;
        s->r = r;
        if (loop_add(r->loop, &s->w, LOOP_IN | LOOP_OUT)) {
            log_msg(LOG_WARNING, "dns: cannot watch a resolver socket; a query will time out");
            s->w.fd = -1;
            return;
        }
    }
    s->want_write = writable;
}

static void
schedule(struct dns_name *n, uint64_t at_ms)
{
    n->next_ms = at_ms;
    wheel_arm(&n->r->loop->wheel, &n->refresh, at_ms);
}

static uint64_t
clamp(const struct dns_resolver *r, uint64_t ms)
{
    if (ms < r->min_ms) return r->min_ms;
    if (ms > r->max_ms) return r->max_ms;
    return ms;
}

static int
in_addr_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct in_addr));
}

static void
failed(struct dns_name *n, const char *why)
{
    struct dns_resolver *r = n->r;
    n->failures++;
    r->failures++;
    snprintf(n->last_error, sizeof(n->last_error), "%s", why);
    n->backoff_ms = n->backoff_ms ? clamp(r, n->backoff_ms * 2) : r->min_ms;
    schedule(n, now_ms() + n->backoff_ms);
    log_msg(LOG_DEBUG, "dns: %s: %s (%zu addresses kept, next try in %llu ms)", n->name, why,
            n->n_addrs, (unsigned long long)n->backoff_ms);
}

/* Take name <i> out of the list and free it (no query of it may be running). */
static void
drop(struct dns_resolver *r, size_t i)
{
    struct dns_name *n = r->names[i];
    wheel_disarm(&r->loop->wheel, &n->refresh);
    memmove(&r->names[i], &r->names[i + 1], (r->n_names - i - 1) * sizeof(r->names[0]));
    r->n_names--;
    free(n->name);
    free(n);
}

static void
on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct dns_name *n = arg;
    if (status == ARES_EDESTRUCTION || n->r->closing) {
        if (res) ares_freeaddrinfo(res);
        return;
    }
    n->querying = false;
    if (n->forgotten) {
        struct dns_resolver *r = n->r;
        if (res) ares_freeaddrinfo(res);
        for (size_t i = 0; i < r->n_names; i++) {
            if (r->names[i] != n) continue;
            drop(r, i);
            break;
        }
        return;
    }
    /* The lowest DNS_MAX_ADDRS of up to DNS_GATHER addresses: a server that rotates a long
     * answer does not look like a change. */
    struct in_addr all[DNS_GATHER], first = {0};
    size_t m = 0;
    uint64_t ttl_s = UINT64_MAX;
    for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a; a = a->ai_next) {
        if (a->ai_family != AF_INET || m == DNS_GATHER) continue;
        all[m++] = ((const struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (m == 1) first = all[0];
        if (a->ai_ttl >= 0 && (uint64_t)a->ai_ttl < ttl_s) ttl_s = (uint64_t)a->ai_ttl;
    }
    if (res) ares_freeaddrinfo(res);
    qsort(all, m, sizeof(all[0]), in_addr_cmp);
    struct sockaddr_storage got[DNS_MAX_ADDRS];
    memset(got, 0, sizeof(got));
    size_t k = 0;
    for (size_t i = 0; i < m && k < DNS_MAX_ADDRS; i++) {
        if (i && !in_addr_cmp(&all[i - 1], &all[i])) continue;
        struct sockaddr_in *sin = (struct sockaddr_in *)&got[k++];
        sin->sin_family = AF_INET;
        sin->sin_addr = all[i];
    }
    if (status != ARES_SUCCESS || !k) {
        failed(n,
               status != ARES_SUCCESS ? ares_strerror(status) : "the answer has no IPv4 address");
        return;
    }

    struct dns_resolver *r = n->r;
    if (!n->answered || k != n->n_addrs || memcmp(got, n->addrs, k * sizeof(got[0]))) {
        if (n->answered) n->changes++;
        memcpy(n->addrs, got, sizeof(got));
        n->n_addrs = k;
        notify(r);
    }
    memset(&n->first, 0, sizeof(n->first));
    ((struct sockaddr_in *)&n->first)->sin_family = AF_INET;
    ((struct sockaddr_in *)&n->first)->sin_addr = first;
    n->answered = true;
    n->ok_at_ms = now_ms();
    n->backoff_ms = 0;
    n->last_error[0] = '\0';
    /* A TTL of 0 (or /etc/hosts) means no advice: the refresh rate, as Envoy. */
    uint64_t ms = ttl_s && ttl_s != UINT64_MAX ? ttl_s * 1000 : r->max_ms;
    schedule(n, n->ok_at_ms + clamp(r, ms));
}

/* c-ares may answer at once (from /etc/hosts, a malformed name): on_answer then runs here. */
static void
start_query(struct dns_name *n)
{
    struct dns_resolver *r = n->r;
    if (n->querying) return;
    n->querying = true;
    n->queries++;
    r->queries++;
    n->started_ms = now_ms();
    wheel_disarm(&r->loop->wheel, &n->refresh);
    n->next_ms = 0;
    struct ares_addrinfo_hints hints = {.ai_family = AF_INET, .ai_flags = ARES_AI_NOSORT};
    ares_getaddrinfo(r->channel, n->name, NULL, &hints, on_answer, n);
}

static void
on_refresh(struct wheel_timer *t)
{
    struct dns_name *n = container_of(t, struct dns_name, refresh);
    start_query(n);
    after_ares(n->r);
}

static struct dns_name *
find(const struct dns_resolver *r, const char *name)
{
    for (size_t i = 0; i < r->n_names; i++) {
        if (!strcmp(r->names[i]->name, name)) return r->names[i];
    }
    return NULL;
}

static struct dns_name *
add(struct dns_resolver *r, const char *name)
{
    if (r->n_names == r->cap_names) {
        size_t cap = r->cap_names ? r->cap_names * 2 : 16;
        struct dns_name **names = realloc(r->names, cap * sizeof(*names));
        if (!names) return NULL;
        r->names = names;
        r->cap_names = cap;
    }
    struct dns_name *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    n->name = strdup(name);
    if (!n->name) {
        free(n);
        return NULL;
    }
    n->r = r;
    n->refresh.cb = on_refresh;
    r->names[r->n_names++] = n;
    return n;
}

/* Whether a query may start now: none yet, or the last began min_ms ago or more. */
static bool
may_ask(const struct dns_name *n)
{
    return !n->querying && (!n->queries || now_ms() - n->started_ms >= n->r->min_ms);
}

size_t
dns_lookup(struct dns_resolver *r, const char *name, struct sockaddr_storage *out, size_t max)
{
    struct sockaddr_storage lit;
    if (!name || !*name) return 0;
    if (sock_parse_ip(name, &lit)) {
        if (!max) return 0;
        out[0] = lit;
        return 1;
    }
    struct dns_name *n = find(r, name);
    if (!n) n = add(r, name);
    if (!n) return 0;
    n->forgotten = false; /* wanted again before its last query ended */
    if (!n->n_addrs && may_ask(n)) {
        start_query(n);
        after_ares(r);
    }
    size_t k = n->n_addrs < max ? n->n_addrs : max;
    if (k) memcpy(out, n->addrs, k * sizeof(out[0]));
    return k;
}

bool
dns_first(struct dns_resolver *r, const char *name, struct sockaddr_storage *out)
{
    if (sock_parse_ip(name, out)) return true;
    const struct dns_name *n = find(r, name);
    if (!n || !n->answered) return false;
    *out = n->first;
    return true;
}

void
dns_refresh(struct dns_resolver *r, const char *name)
{
    struct dns_name *n = find(r, name);
    if (!n || n->querying) return;
    if (!may_ask(n)) {
        /* Too soon: make sure it happens as soon as allowed. */
        uint64_t at = n->started_ms + r->min_ms;
        if (!wheel_armed(&n->refresh) || n->next_ms > at) schedule(n, at);
        return;
    }
    start_query(n);
    after_ares(r);
}

void
dns_retain(struct dns_resolver *r, const char *const *names, size_t n_names)
{
    for (size_t i = 0; i < r->n_names;) {
        struct dns_name *n = r->names[i];
        bool keep = false;
        for (size_t k = 0; k < n_names && !keep; k++) keep = !strcmp(names[k], n->name);
        if (keep || n->querying) {
            n->forgotten = !keep; /* a running query cannot be called back: it ends first */
            if (!keep) wheel_disarm(&r->loop->wheel, &n->refresh);
            i++;
            continue;
        }
        log_msg(LOG_DEBUG, "dns: %s is no longer used; not asked again", n->name);
        drop(r, i);
    }
}

size_t
dns_names(struct dns_resolver *r, struct dns_name_view *out, size_t max)
{
    uint64_t now = now_ms();
    size_t count = 0;
    for (size_t i = 0; i < r->n_names; i++) {
        const struct dns_name *n = r->names[i];
        if (n->forgotten || count++ >= max) continue;
        struct dns_name_view *v = &out[count - 1];
        memset(v, 0, sizeof(*v));
        v->name = n->name;
        v->n_addrs = n->n_addrs;
        memcpy(v->addrs, n->addrs, sizeof(v->addrs));
        v->age_ms = n->answered ? now - n->ok_at_ms : UINT64_MAX;
        v->next_refresh_ms =
            n->querying || !wheel_armed(&n->refresh) || n->next_ms <= now ? 0 : n->next_ms - now;
        v->queries = n->queries;
        v->failures = n->failures;
        v->changes = n->changes;
        memcpy(v->last_error, n->last_error, sizeof(v->last_error));
    }
    return count;
}

struct dns_name_view *
dns_names_all(struct dns_resolver *r, size_t *n)
{
    *n = 0;
    struct dns_name_view *v = r->n_names ? malloc(r->n_names * sizeof(*v)) : NULL;
    if (v) *n = dns_names(r, v, r->n_names);
    return v;
}

void
dns_totals(const struct dns_resolver *r, uint64_t *queries, uint64_t *failures)
{
    *queries = r->queries;
    *failures = r->failures;
}

bool
dns_name_waiting(const struct dns_resolver *r, const char *name)
{
    const struct dns_name *n = find(r, name);
    return n && !n->forgotten && !n->answered && !n->failures;
}

size_t
dns_waiting(const struct dns_resolver *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_names; i++) {
        const struct dns_name *d = r->names[i];
        n += !d->forgotten && !d->answered && !d->failures;
    }
    return n;
}

/* "HOST:PORT" with HOST an IP ("[v6]:PORT" for IPv6) and PORT 1..65535. */
static bool
server_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) return false;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || errno || !port || port > 65535) return false;
    char host[64];
    size_t len = (size_t)(colon - s);
    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']') return false;
        s++;
        len -= 2;
    }
    if (len >= sizeof(host)) return false;
    memcpy(host, s, len);
    host[len] = '\0';
    struct sockaddr_storage ss;
    return sock_parse_ip(host, &ss);
}

static int
set_servers(struct dns_resolver *r, const struct dns_options *o, char *err, size_t err_len)
{
    size_t len = 1;
    for (size_t i = 0; i < o->n_servers; i++) {
        if (!server_ok(o->servers[i])) {
            snprintf(err, err_len, "DNS server '%s' is not IP:PORT", o->servers[i]);
            return -EINVAL;
        }
        len += strlen(o->servers[i]) + 1;
    }
    char *csv = malloc(len);
    if (!csv) return -ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < o->n_servers; i++) {
        if (i) csv[at++] = ',';
        size_t n = strlen(o->servers[i]);
        memcpy(csv + at, o->servers[i], n);
        at += n;
    }
    csv[at] = '\0';
    int rc = ares_set_servers_ports_csv(r->channel, csv);
    free(csv);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_len, "DNS servers: %s", ares_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

struct dns_resolver *
dns_resolver_new(struct loop *l, const struct dns_options *o, void (*changed)(void *arg), void *arg,
                 char *err, size_t err_len)
{
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_len, "c-ares: %s", ares_strerror(rc));
        return NULL;
    }
    struct dns_resolver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, err_len, "out of memory");
        ares_library_cleanup();
        return NULL;
    }
    r->loop = l;
    r->changed = changed;
    r->arg = arg;
    r->max_ms = o->max_refresh_ms ? o->max_refresh_ms : DNS_REFRESH_DEFAULT_MS;
    r->min_ms = o->min_refresh_ms ? o->min_refresh_ms : DNS_MIN_REFRESH_DEFAULT_MS;
    if (r->min_ms > r->max_ms) r->min_ms = r->max_ms;
    for (size_t i = 0; i < DNS_SOCKS; i++) r->socks[i].w.fd = -1;
    r->timeout.cb = on_timeout;
    r->notify.cb = on_notify;

    struct ares_options ao;
    memset(&ao, 0, sizeof(ao));
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    ao.timeout = (int)(o->timeout_ms ? o->timeout_ms : DNS_TIMEOUT_DEFAULT_MS);
    ao.tries = DNS_TRIES;
    if (o->n_servers) {
        mask |= ARES_OPT_DOMAINS; /* names as written: no resolv.conf search list */
        ao.domains = NULL;
        ao.ndomains = 0;
    }
    rc = ares_init_options(&r->channel, &ao, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_len, "c-ares: %s", ares_strerror(rc));
        free(r);
        ares_library_cleanup();
        return NULL;
    }
    if (o->n_servers && set_servers(r, o, err, err_len)) {
        dns_resolver_free(r);
        return NULL;
    }
    return r;
}

void
dns_resolver_free(struct dns_resolver *r)
{
    if (!r) return;
    r->closing = true;
    struct wheel *w = &r->loop->wheel;
    wheel_disarm(w, &r->timeout);
    wheel_disarm(w, &r->notify);
    for (size_t i = 0; i < r->n_names; i++) wheel_disarm(w, &r->names[i]->refresh);
    ares_destroy(r->channel); /* answers every query with ARES_EDESTRUCTION, closes sockets */
    for (size_t i = 0; i < DNS_SOCKS; i++) {
        if (r->socks[i].w.fd >= 0) loop_del(r->loop, &r->socks[i].w);
    }
    for (size_t i = 0; i < r->n_names; i++) {
        free(r->names[i]->name);
        free(r->names[i]);
    }
    free(r->names);
    free(r);
    ares_library_cleanup();
}
