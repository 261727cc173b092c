/* SPDX-License-Identifier: Apache-2.0 */
/* control/dns.c against a tiny authoritative DNS responder of the test's own (a thread on a
 * loopback UDP port; A records from a table it can change, NXDOMAIN for unknown names, a
 * mode that drops every query), driving a real core loop: the first lookup is empty and
 * changed() follows the answer; the TTL brings a re-query and a new answer calls changed();
 * an unchanged answer does not; a server that stops answering or forgets the name keeps the
 * last addresses and counts failures; IP literals need no query; fifty names at once; freeing
 * with queries in flight gives every socket back. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "control/dns.h"
#include "core/loop.h"
#include "core/now.h"
#include "harness.h"

/* ---- the responder ---- */

#define ZONE_MAX 64

struct zone_rec {
    char name[64];
    uint32_t addrs[24]; /* network order */
    size_t n;
    unsigned queries;
};

static struct {
    int fd, tcp; /* UDP and TCP on the same port */
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    struct zone_rec recs[ZONE_MAX];
    size_t n_recs;
    uint32_t ttl;
    bool drop;
    bool truncate;    /* UDP answers say TC: the client must ask again over TCP */
    unsigned queries; /* every query received, dropped or not */
    unsigned tcp_queries;
} zone = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Set <name>'s A records ("" for none: the name is forgotten, NXDOMAIN). */
static void
zone_set(const char *name, const char *a, const char *b)
{
    pthread_mutex_lock(&zone.mu);
    struct zone_rec *z = NULL;
    for (size_t i = 0; i < zone.n_recs && !z; i++) {
        if (!strcmp(zone.recs[i].name, name)) z = &zone.recs[i];
    }
    if (!z) {
        assert_true(zone.n_recs < ZONE_MAX);
        z = &zone.recs[zone.n_recs++];
        memset(z, 0, sizeof(*z));
        snprintf(z->name, sizeof(z->name), "%s", name);
    }
    z->n = 0;
    if (*a) inet_pton(AF_INET, a, &z->addrs[z->n++]);
    if (b && *b) inet_pton(AF_INET, b, &z->addrs[z->n++]);
    pthread_mutex_unlock(&zone.mu);
}

/* <name> answers with <n> addresses 127.2.0.1, .2, ... (from the last when <reverse>) */
static void
zone_set_many(const char *name, size_t n, bool reverse)
{
    zone_set(name, "127.2.0.1", NULL);
    pthread_mutex_lock(&zone.mu);
    for (size_t i = 0; i < zone.n_recs; i++) {
        if (strcmp(zone.recs[i].name, name)) continue;
        for (size_t k = 0; k < n; k++)
            zone.recs[i].addrs[k] = htonl(0x7f020001u + (uint32_t)(reverse ? n - 1 - k : k));
        zone.recs[i].n = n;
    }
    pthread_mutex_unlock(&zone.mu);
}

static unsigned
zone_queries(const char *name)
{
    unsigned n = 0;
    pthread_mutex_lock(&zone.mu);
    for (size_t i = 0; i < zone.n_recs; i++) {
        if (!strcmp(zone.recs[i].name, name)) n = zone.recs[i].queries;
    }
    pthread_mutex_unlock(&zone.mu);
    return n;
}

/* Every query received (<tcp>: over TCP only). */
static unsigned
zone_total(bool tcp)
{
    pthread_mutex_lock(&zone.mu);
    unsigned n = tcp ? zone.tcp_queries : zone.queries;
    pthread_mutex_unlock(&zone.mu);
    return n;
}

/* TTL and truncation for the answers from now on. */
static void
zone_mode(uint32_t ttl, bool truncate)
{
    pthread_mutex_lock(&zone.mu);
    zone.ttl = ttl;
    zone.truncate = truncate;
    pthread_mutex_unlock(&zone.mu);
}

static void
zone_drop(bool drop)
{
    pthread_mutex_lock(&zone.mu);
    zone.drop = drop;
    pthread_mutex_unlock(&zone.mu);
}

/* The answer to the query in <q> (<len> bytes) in <out>: its length, 0 to send nothing. */
static size_t
zone_answer(const uint8_t *q, size_t len, uint8_t *out, size_t cap, bool tcp)
{
    if (len < 12 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1) return 0;
    char name[256];
    size_t at = 12, nl = 0;
    while (at < len && q[at]) {
        size_t l = q[at++];
        if (l > 63 || at + l > len || nl + l + 1 >= sizeof(name)) return 0;
        if (nl) name[nl++] = '.';
        for (size_t i = 0; i < l; i++) name[nl++] = (char)tolower(q[at + i]);
        at += l;
    }
    name[nl] = '\0';
    if (at + 5 > len) return 0;
    size_t qend = at + 5;
    uint16_t qtype = (uint16_t)(q[at + 1] << 8 | q[at + 2]);

    pthread_mutex_lock(&zone.mu);
    zone.queries++;
    struct zone_rec *z = NULL;
    for (size_t i = 0; i < zone.n_recs && !z; i++) {
        if (!strcmp(zone.recs[i].name, name)) z = &zone.recs[i];
    }
    if (z) z->queries++;
    size_t n = 0;
    if (tcp) zone.tcp_queries++;
    if (zone.drop || qend + 16 * (z ? z->n : 0) > cap) {
        pthread_mutex_unlock(&zone.mu);
        return 0;
    }
    memcpy(out, q, qend);
    out[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD copied */
    out[3] = (z && z->n) ? 0 : 3;  /* NXDOMAIN for unknown (or forgotten) names */
    memset(out + 6, 0, 6);
    size_t o = qend;
    if (zone.truncate && !tcp) {
        out[2] |= 0x02; /* TC, and no answer */
        z = NULL;
        out[3] = 0;
    }
    for (size_t i = 0; z && qtype == 1 && i < z->n; i++, n++) {
        const uint8_t rr[] = {0xc0,
                              0x0c,
                              0,
                              1,
                              0,
                              1,
                              (uint8_t)(zone.ttl >> 24),
                              (uint8_t)(zone.ttl >> 16),
                              (uint8_t)(zone.ttl >> 8),
                              (uint8_t)zone.ttl,
                              0,
                              4};
        memcpy(out + o, rr, sizeof(rr));
        memcpy(out + o + sizeof(rr), &z->addrs[i], 4);
        o += sizeof(rr) + 4;
    }
    pthread_mutex_unlock(&zone.mu);
    out[7] = (uint8_t)n;
    return o;
}

static bool
read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 3000) <= 0) return false;
        ssize_t k = read(fd, p, n);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* One TCP client: length-prefixed queries until it closes or idles for longer than the
 * tests' query timeouts (its close must not be what makes the client read on); each answer
 * goes out in one write (length and message together), as servers do. */
static void
zone_tcp(void)
{
    int c = accept(zone.tcp, NULL, NULL);
    if (c < 0) return;
    uint8_t q[514], out[1024];
    while (!atomic_load(&zone.stop) && read_all(c, q, 2)) {
        size_t len = (size_t)(q[0] << 8 | q[1]);
        if (len > 512 || !read_all(c, q + 2, len)) break;
        size_t n = zone_answer(q + 2, len, out + 2, sizeof(out) - 2, true);
        if (!n) continue;
        out[0] = (uint8_t)(n >> 8);
        out[1] = (uint8_t)n;
        if (write(c, out, n + 2) != (ssize_t)(n + 2)) break;
    }
    close(c);
}

static void *
zone_run(void *arg)
{
    (void)arg;
    while (!atomic_load(&zone.stop)) {
        struct pollfd p[2] = {{.fd = zone.fd, .events = POLLIN},
                              {.fd = zone.tcp, .events = POLLIN}};
        if (poll(p, 2, 50) <= 0) continue;
        if (p[1].revents) zone_tcp();
        if (!p[0].revents) continue;
        uint8_t q[512], out[512];
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t len = recvfrom(zone.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
        if (len <= 0) continue;
        size_t n = zone_answer(q, (size_t)len, out, sizeof(out), false);
        if (n) sendto(zone.fd, out, n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void
zone_start(uint32_t ttl)
{
    zone.n_recs = 0;
    zone.ttl = ttl;
    zone.drop = false;
    zone.truncate = false;
    zone.queries = zone.tcp_queries = 0;
    atomic_store(&zone.stop, false);
    /* A port free for UDP and TCP both: the kernel picks one, the other may hold it. */
    for (int tries = 0;; tries++) {
        assert_true(tries < 50);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        zone.fd = socket(AF_INET, SOCK_DGRAM, 0);
        zone.tcp = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(zone.fd >= 0 && zone.tcp >= 0);
        int one = 1;
        setsockopt(zone.tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        assert_int_equal(bind(zone.fd, (struct sockaddr *)&a, sizeof(a)), 0);
        socklen_t al = sizeof(a);
        getsockname(zone.fd, (struct sockaddr *)&a, &al);
        zone.port = ntohs(a.sin_port);
        if (!bind(zone.tcp, (struct sockaddr *)&a, sizeof(a)) && !listen(zone.tcp, 8)) break;
        close(zone.fd);
        close(zone.tcp);
    }
    assert_int_equal(pthread_create(&zone.thread, NULL, zone_run, NULL), 0);
}

static void
zone_stop(void)
{
    atomic_store(&zone.stop, true);
    pthread_join(zone.thread, NULL);
    close(zone.fd);
    close(zone.tcp);
}

/* ---- the loop ---- */

static struct loop L;
static int changed_calls;

static void
on_changed(void *arg)
{
    (void)arg;
    changed_calls++;
    loop_stop(&L);
}

static void
on_deadline(struct wheel_timer *t)
{
    (void)t;
    loop_stop(&L);
}

/* Run the loop until changed() is called or <ms> pass: whether it was called. */
static bool
pump(uint64_t ms)
{
    int before = changed_calls;
    struct wheel_timer t = {.cb = on_deadline};
    wheel_arm(&L.wheel, &t, now_ms() + ms);
    loop_run(&L, NULL, NULL);
    wheel_disarm(&L.wheel, &t);
    return changed_calls > before;
}

/* Run the loop for <ms> whatever happens; how many changed() calls came. */
static int
pump_all(uint64_t ms)
{
    int before = changed_calls;
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) pump(end - now_ms());
    return changed_calls - before;
}

static char server[32];

static struct dns_resolver *
resolver(uint64_t min_ms, uint64_t timeout_ms)
{
    snprintf(server, sizeof(server), "127.0.0.1:%u", zone.port);
    const char *servers[] = {server};
    struct dns_options o = {.servers = servers,
                            .n_servers = 1,
                            .min_refresh_ms = min_ms,
                            .max_refresh_ms = 60000,
                            .timeout_ms = timeout_ms};
    char err[128] = "";
    struct dns_resolver *r = dns_resolver_new(&L, &o, on_changed, NULL, err, sizeof(err));
    assert_non_null(r);
    return r;
}

static const char *
ip(const struct sockaddr_storage *ss)
{
    static char buf[4][INET6_ADDRSTRLEN];
    static int i;
    char *b = buf[i++ % 4];
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, b, INET6_ADDRSTRLEN);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, b, INET6_ADDRSTRLEN);
    return b;
}

static struct dns_name_view *
view(struct dns_resolver *r, const char *name)
{
    static struct dns_name_view v[64];
    size_t n = dns_names(r, v, 64);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (!strcmp(v[i].name, name)) return &v[i];
    }
    fail_msg("%s is not listed", name);
    return NULL;
}

static int
open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d)) n++;
    if (d) closedir(d);
    return n;
}

static int
setup(void **state)
{
    (void)state;
    assert_int_equal(loop_init(&L), 0);
    changed_calls = 0;
    zone_start(60);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    zone_stop();
    loop_fini(&L);
    return 0;
}

/* ---- tests ---- */

static size_t
listed(struct dns_resolver *r)
{
    struct dns_name_view v[8];
    return dns_names(r, v, 8);
}

/* A name the config no longer uses is let go: not asked again, not listed; one whose query
 * is running goes when it ends, or stays when it is looked up again first. */
static void
test_dns_retain_lets_go_of_names_no_longer_used(void **state)
{
    (void)state;
    zone_mode(1, false);
    zone_set("kept.test", "127.0.0.2", NULL);
    zone_set("gone.test", "127.0.0.3", NULL);
    struct dns_resolver *r = resolver(100, 200);
    struct sockaddr_storage a[4];
    dns_lookup(r, "kept.test", a, 4);
    dns_lookup(r, "gone.test", a, 4);
    assert_true(pump(5000));
    pump_all(300);
    assert_int_equal(listed(r), 2);
    const char *keep[] = {"kept.test", "kept.test"};
    dns_retain(r, keep, 2);
    assert_int_equal(listed(r), 1);
    assert_string_equal(view(r, "kept.test")->name, "kept.test");
    unsigned gone = zone_queries("gone.test"), kept = zone_queries("kept.test");
    pump_all(2500); /* TTL 1 s: the kept name is asked again, the other not */
    assert_int_equal(zone_queries("gone.test"), gone);
    assert_true(zone_queries("kept.test") > kept);
    assert_int_equal(dns_waiting(r), 0);

    /* Let go while its query runs (the server is silent): unlisted now, freed at its end. */
    zone_drop(true);
    assert_int_equal(dns_lookup(r, "late.test", a, 4), 0);
    dns_retain(r, keep, 1);
    assert_int_equal(listed(r), 1);
    assert_int_equal(dns_waiting(r), 0);
    pump_all(800); /* the query fails after 200 + 400 ms */
    assert_int_equal(listed(r), 1);
    /* Looked up again while its query runs: it stays. */
    assert_int_equal(dns_lookup(r, "again.test", a, 4), 0);
    dns_retain(r, NULL, 0);
    assert_int_equal(dns_lookup(r, "again.test", a, 4), 0);
    assert_int_equal(listed(r), 1);
    assert_int_equal(dns_waiting(r), 1);
    dns_retain(r, NULL, 0); /* and goes, with a query in flight, at dns_resolver_free */
    assert_int_equal(listed(r), 0);
    dns_resolver_free(r);
}

static void
test_dns_first_lookup_is_empty_then_the_answer_comes(void **state)
{
    (void)state;
    zone_set("api.test", "127.0.0.3", "127.0.0.2");
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[4];
    assert_int_equal(dns_lookup(r, "api.test", a, 4), 0);
    assert_int_equal(changed_calls, 0); /* never from inside a dns_* call */
    assert_true(pump(5000));
    assert_int_equal(dns_lookup(r, "api.test", a, 4), 2);
    assert_string_equal(ip(&a[0]), "127.0.0.2"); /* sorted */
    assert_string_equal(ip(&a[1]), "127.0.0.3");
    assert_int_equal(((struct sockaddr_in *)&a[0])->sin_port, 0);
    assert_int_equal(dns_lookup(r, "api.test", a, 1), 1); /* at most <max> */
    const struct dns_name_view *v = view(r, "api.test");
    assert_int_equal(v->n_addrs, 2);
    assert_int_equal(v->queries, 1);
    assert_int_equal(v->failures, 0);
    assert_int_equal(v->changes, 0);
    assert_true(v->age_ms < 60000);
    /* TTL 60 s: the next refresh is due within the TTL, not sooner than the rest of it */
    assert_true(v->next_refresh_ms > 30000 && v->next_refresh_ms <= 60000);
    assert_string_equal(v->last_error, "");
    assert_int_equal(zone_queries("api.test"), 1); /* lookups with an answer ask nothing */
    dns_resolver_free(r);
}

static void
test_dns_ttl_requeries_and_a_changed_answer_calls_changed(void **state)
{
    (void)state;
    zone_mode(1, false);
    zone_set("moving.test", "127.0.0.2", "127.0.0.3");
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[4];
    assert_int_equal(dns_lookup(r, "moving.test", a, 4), 0);
    assert_true(pump(5000));
    /* Same answer on every TTL: asked again, changed() stays quiet. */
    assert_int_equal(pump_all(2600), 0);
    assert_true(zone_queries("moving.test") >= 2);
    assert_int_equal(view(r, "moving.test")->changes, 0);
    zone_set("moving.test", "127.0.0.9", NULL);
    assert_true(pump(5000));
    assert_int_equal(dns_lookup(r, "moving.test", a, 4), 1);
    assert_string_equal(ip(&a[0]), "127.0.0.9");
    const struct dns_name_view *v = view(r, "moving.test");
    assert_int_equal(v->changes, 1);
    assert_int_equal(v->failures, 0);
    assert_true(v->next_refresh_ms <= 1000);
    dns_resolver_free(r);
}

static void
test_dns_failures_keep_the_last_addresses(void **state)
{
    (void)state;
    zone_mode(1, false);
    zone_set("kept.test", "127.0.0.2", "127.0.0.3");
    struct dns_resolver *r = resolver(100, 100); /* a lost query fails after 100 + 200 ms */
    struct sockaddr_storage a[4];
    dns_lookup(r, "kept.test", a, 4);
    assert_true(pump(5000));

    zone_drop(true); /* the server stops answering */
    assert_int_equal(pump_all(2500), 0);
    const struct dns_name_view *v = view(r, "kept.test");
    assert_true(v->failures >= 1);
    assert_int_equal(v->n_addrs, 2);
    assert_true(v->last_error[0] != '\0');
    assert_int_equal(dns_lookup(r, "kept.test", a, 4), 2);

    zone_drop(false);
    zone_set("kept.test", "", NULL); /* NXDOMAIN now */
    uint64_t failures = view(r, "kept.test")->failures;
    assert_int_equal(pump_all(2500), 0);
    v = view(r, "kept.test");
    assert_true(v->failures > failures);
    assert_int_equal(dns_lookup(r, "kept.test", a, 4), 2);
    assert_string_equal(ip(&a[0]), "127.0.0.2");

    zone_set("kept.test", "127.0.0.7", NULL); /* back, elsewhere */
    assert_true(pump(5000));
    assert_int_equal(dns_lookup(r, "kept.test", a, 4), 1);
    assert_string_equal(ip(&a[0]), "127.0.0.7");
    assert_string_equal(view(r, "kept.test")->last_error, "");
    assert_int_equal(view(r, "kept.test")->changes, 1);
    dns_resolver_free(r);
}

static void
test_dns_a_name_that_never_resolves(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[4];
    assert_int_equal(dns_lookup(r, "nowhere.test", a, 4), 0);
    assert_int_equal(pump_all(400), 0);
    assert_int_equal(dns_lookup(r, "nowhere.test", a, 4), 0);
    const struct dns_name_view *v = view(r, "nowhere.test");
    assert_true(v->failures >= 1);
    assert_int_equal(v->age_ms, UINT64_MAX);
    assert_true(v->last_error[0] != '\0');
    dns_resolver_free(r);
}

static void
test_dns_ip_literals_need_no_query(void **state)
{
    (void)state;
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[2];
    assert_int_equal(dns_lookup(r, "10.1.2.3", a, 2), 1);
    assert_int_equal(a[0].ss_family, AF_INET);
    assert_string_equal(ip(&a[0]), "10.1.2.3");
    assert_int_equal(dns_lookup(r, "::1", a, 2), 1);
    assert_int_equal(a[0].ss_family, AF_INET6);
    assert_string_equal(ip(&a[0]), "::1");
    assert_int_equal(dns_lookup(r, "10.1.2.3", a, 0), 0);
    struct dns_name_view v[1];
    assert_int_equal(dns_names(r, v, 1), 0);
    assert_int_equal(pump_all(100), 0);
    assert_int_equal(zone_total(false), 0);
    dns_resolver_free(r);
}

static void
test_dns_many_names_at_once(void **state)
{
    (void)state;
    char name[32], addr[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        snprintf(addr, sizeof(addr), "127.1.0.%d", i + 1);
        zone_set(name, addr, NULL);
    }
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[4];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        assert_int_equal(dns_lookup(r, name, a, 4), 0);
    }
    int answered = 0;
    for (int round = 0; round < 100 && answered < 50; round++) {
        pump(100);
        answered = 0;
        for (int i = 0; i < 50; i++) {
            snprintf(name, sizeof(name), "n%d.test", i);
            answered += dns_lookup(r, name, a, 4) == 1;
        }
    }
    assert_int_equal(answered, 50);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        snprintf(addr, sizeof(addr), "127.1.0.%d", i + 1);
        dns_lookup(r, name, a, 4);
        assert_string_equal(ip(&a[0]), addr);
        assert_int_equal(zone_queries(name), 1);
    }
    struct dns_name_view v[1];
    assert_int_equal(dns_names(r, v, 1), 50);
    dns_resolver_free(r);
}

/* A truncated UDP answer sends c-ares to TCP; the answer comes back in one segment, which
 * c-ares reads a piece per call: the edge-triggered loop must still read all of it. The
 * answer is longer than a name keeps; its TTL of 0 refreshes at the upper bound. */
static void
test_dns_truncated_answers_come_over_tcp(void **state)
{
    (void)state;
    zone_mode(0, true);
    zone_set_many("big.test", 20, false);
    struct dns_resolver *r = resolver(100, 1000);
    struct sockaddr_storage a[DNS_MAX_ADDRS + 4];
    assert_int_equal(dns_lookup(r, "big.test", a, DNS_MAX_ADDRS + 4), 0);
    assert_true(pump(5000));
    assert_int_equal(zone_total(false), 2); /* once over UDP, once over TCP: no retry */
    assert_int_equal(zone_total(true), 1);
    assert_int_equal(dns_lookup(r, "big.test", a, DNS_MAX_ADDRS + 4), DNS_MAX_ADDRS);
    assert_string_equal(ip(&a[0]), "127.2.0.1");
    const struct dns_name_view *v = view(r, "big.test");
    assert_int_equal(v->failures, 0);
    assert_true(v->next_refresh_ms > 30000 && v->next_refresh_ms <= 60000);
    dns_resolver_free(r);
}

/* --dns-server is repeatable: a server that refuses (nothing on its port) is passed over. */
static void
test_dns_a_dead_server_is_passed_over(void **state)
{
    (void)state;
    zone_set("api.test", "127.0.0.5", NULL);
    int dead = socket(AF_INET, SOCK_DGRAM, 0); /* a port surely closed once this closes */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(dead, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(dead, (struct sockaddr *)&a, &al);
    close(dead);
    char first[32], second[32];
    snprintf(first, sizeof(first), "127.0.0.1:%u", ntohs(a.sin_port));
    snprintf(second, sizeof(second), "127.0.0.1:%u", zone.port);
    const char *servers[] = {first, second};
    struct dns_options o = {.servers = servers, .n_servers = 2, .timeout_ms = 500};
    char err[128] = "";
    struct dns_resolver *r = dns_resolver_new(&L, &o, on_changed, NULL, err, sizeof(err));
    assert_non_null(r);
    struct sockaddr_storage got[2];
    assert_int_equal(dns_lookup(r, "api.test", got, 2), 0);
    assert_true(pump(5000));
    assert_int_equal(dns_lookup(r, "api.test", got, 2), 1);
    assert_string_equal(ip(&got[0]), "127.0.0.5");
    assert_int_equal(view(r, "api.test")->failures, 0);
    dns_resolver_free(r);
}

/* Without servers: /etc/resolv.conf and /etc/hosts. A hosts-file name is answered inside
 * dns_lookup; changed() still waits for the loop. */
static void
test_dns_system_config_and_hosts_file(void **state)
{
    (void)state;
    struct dns_options o = {.min_refresh_ms = 100};
    char err[128] = "";
    struct dns_resolver *r = dns_resolver_new(&L, &o, on_changed, NULL, err, sizeof(err));
    assert_non_null(r);
    struct sockaddr_storage got[2];
    assert_int_equal(dns_lookup(r, "localhost", got, 2), 1);
    assert_string_equal(ip(&got[0]), "127.0.0.1");
    assert_int_equal(changed_calls, 0);
    assert_true(pump(1000));
    assert_int_equal(changed_calls, 1);
    const struct dns_name_view *v = view(r, "localhost");
    assert_int_equal(v->queries, 1);
    assert_true(v->next_refresh_ms > 30000); /* no TTL in a hosts file: the upper bound */
    dns_resolver_free(r);
}

/* A long answer in another order is the same set: the lowest addresses are kept; only
 * dns_first() (the server's first) follows the order. */
static void
test_dns_a_rotated_long_answer_is_no_change(void **state)
{
    (void)state;
    zone_mode(1, false);
    zone_set_many("rr.test", 20, true);
    struct dns_resolver *r = resolver(100, 500);
    struct sockaddr_storage a[DNS_MAX_ADDRS];
    dns_lookup(r, "rr.test", a, DNS_MAX_ADDRS);
    assert_true(pump(5000));
    assert_int_equal(dns_lookup(r, "rr.test", a, DNS_MAX_ADDRS), DNS_MAX_ADDRS);
    assert_string_equal(ip(&a[0]), "127.2.0.1");
    assert_string_equal(ip(&a[DNS_MAX_ADDRS - 1]), "127.2.0.16");
    struct sockaddr_storage first;
    assert_true(dns_first(r, "rr.test", &first)); /* in the server's order */
    assert_string_equal(ip(&first), "127.2.0.20");
    zone_set_many("rr.test", 20, false);
    assert_int_equal(pump_all(2500), 0);
    assert_true(zone_queries("rr.test") >= 2);
    assert_int_equal(view(r, "rr.test")->changes, 0);
    assert_true(dns_first(r, "rr.test", &first));
    assert_string_equal(ip(&first), "127.2.0.1");
    assert_false(dns_first(r, "unknown.test", &first));
    assert_true(dns_first(r, "10.0.0.1", &first));
    assert_string_equal(ip(&first), "10.0.0.1");
    dns_resolver_free(r);
}

static void
test_dns_refresh_is_bounded(void **state)
{
    (void)state;
    zone_set("again.test", "127.0.0.2", NULL);
    struct dns_resolver *r = resolver(60000, 500); /* at most one query a minute */
    struct sockaddr_storage a[2];
    dns_lookup(r, "again.test", a, 2);
    assert_true(pump(5000));
    dns_refresh(r, "again.test"); /* too soon: postponed, not asked */
    dns_refresh(r, "again.test");
    dns_refresh(r, "unknown.test"); /* never looked up: ignored */
    assert_int_equal(pump_all(200), 0);
    assert_int_equal(zone_queries("again.test"), 1);
    assert_int_equal(view(r, "again.test")->queries, 1);
    assert_true(view(r, "again.test")->next_refresh_ms <= 60000);
    struct dns_name_view v[2];
    assert_int_equal(dns_names(r, v, 2), 1);
    dns_resolver_free(r);

    r = resolver(100, 500); /* once allowed, it asks at once */
    dns_lookup(r, "again.test", a, 2);
    assert_true(pump(5000));
    pump_all(150);
    dns_refresh(r, "again.test");
    assert_int_equal(view(r, "again.test")->queries, 2);
    pump_all(200);
    assert_int_equal(zone_queries("again.test"), 3); /* both resolvers' */
    dns_resolver_free(r);
}

static void
test_dns_free_with_queries_in_flight(void **state)
{
    (void)state;
    int fds = open_fds();
    zone_drop(true);
    char name[32];
    struct dns_resolver *r = resolver(100, 2000);
    struct sockaddr_storage a[2];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "lost%d.test", i);
        dns_lookup(r, name, a, 2);
    }
    assert_int_equal(pump_all(100), 0);
    assert_true(zone_total(false) >= 1);
    dns_resolver_free(r);
    r = resolver(100, 2000); /* and before the loop ever ran */
    dns_lookup(r, "lost.test", a, 2);
    dns_resolver_free(r);
    assert_int_equal(pump_all(100), 0); /* no timer or socket of theirs is left */
    assert_int_equal(open_fds(), fds);
    assert_int_equal(changed_calls, 0);
}

static void
test_dns_servers_must_be_ip_and_port(void **state)
{
    (void)state;
    static const char *const bad[] = {"127.0.0.1", "localhost:53", "127.0.0.1:0", "127.0.0.1:99999",
                                      ":53",       "[::1]",        "1.2.3.4:5x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dns_options o = {.servers = &bad[i], .n_servers = 1};
        char err[128] = "";
        assert_null(dns_resolver_new(&L, &o, on_changed, NULL, err, sizeof(err)));
        assert_non_null(strstr(err, bad[i]));
    }
    static const char *const good[] = {"127.0.0.1:53", "[::1]:5353"};
    struct dns_options o = {.servers = good, .n_servers = 2};
    char err[128] = "";
    struct dns_resolver *r = dns_resolver_new(&L, &o, on_changed, NULL, err, sizeof(err));
    assert_non_null(r);
    dns_resolver_free(r);
    dns_resolver_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dns_first_lookup_is_empty_then_the_answer_comes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_ttl_requeries_and_a_changed_answer_calls_changed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_failures_keep_the_last_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_a_name_that_never_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_ip_literals_need_no_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_many_names_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_truncated_answers_come_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_a_dead_server_is_passed_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_system_config_and_hosts_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_a_rotated_long_answer_is_no_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_refresh_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_free_with_queries_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_retain_lets_go_of_names_no_longer_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_servers_must_be_ip_and_port, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
