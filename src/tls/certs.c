/* SPDX-License-Identifier: Apache-2.0 */
/* Workload identity files to OpenSSL contexts, and their rotation: the client SSL_CTX
 * (TLS 1.2 to 1.3, the chain and key from cert-chain.pem and key.pem, the mesh root from
 * root-cert.pem as the only trust anchor, ALPN as Envoy offers it for ISTIO_MUTUAL) and
 * the server one for inbound mTLS. Gateway and SIMPLE/MUTUAL contexts are ctx.c's.
 *
 * Why a lock and a stable identity rather than swapping the identity pointer: workers
 * load the identity pointer (proxy_options.identity) and only then take a reference in
 * tls_conn_*; had the main thread swapped and freed the old identity between those two
 * steps, the increment would touch freed memory. Here the pointer workers load never
 * changes while they run, and "read the credential in force and take a reference" is one
 * step under <lock>, which the rotation takes to swap; so a credential is never freed
 * while a worker may still be about to take it. A per-worker hand-over or quiescent
 * points would need every worker's loop to take part; this costs one uncontended lock per
 * new TLS connection (a handshake costs a thousand times more, and tls_conn_resume already
 * takes one). */
#include "tls/certs.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/now.h"
#include "core/wheel.h"
#include "tls/conn.h"

/* How often the files are looked at (Istio's agent writes them on rotation). */
#define CERTS_CHECK_MS 1000

struct tls_cred {
    _Atomic long refs;
    uint64_t serial;
    SSL_CTX *client, *server; /* owned */
    char spiffe[1024];
    char trust_domain[256];
};

struct tls_identity {
    const char *dir;        /* borrowed */
    pthread_mutex_t lock;   /* guards <cur> against a rotation while it is acquired */
    struct tls_cred *cur;   /* refcounted: the identity holds one reference */
    struct stat chain, key; /* the files as they were when <cur> was loaded */
    char trust_domain[256]; /* of the first credential */
    struct wheel_timer t;   /* tls_identity_watch */
    struct loop *loop;      /* borrowed: where <t> is armed (NULL: not watched) */
};

static _Atomic size_t live_creds;
static _Atomic uint64_t next_serial = 1;

static void
cred_free(struct tls_cred *c)
{
    if (!c) return;
    SSL_CTX_free(c->client);
    SSL_CTX_free(c->server);
    free(c);
    atomic_fetch_sub_explicit(&live_creds, 1, memory_order_relaxed);
}

static struct tls_cred *
fail(struct tls_cred *c, char *err, size_t n, const char *what, const char *path)
{
    tls_error_reason(err, n, what, path);
    cred_free(c);
    return NULL;
}

/* The first spiffe:// URI SAN of <x> into <out>. */
static void
spiffe_of(X509 *x, char *out, size_t cap)
{
    out[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI) continue;
        const char *uri = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (len > 9 && !strncmp(uri, "spiffe://", 9) && (size_t)len < cap) {
            memcpy(out, uri, (size_t)len);
            out[len] = '\0';
            break;
        }
    }
    GENERAL_NAMES_free(names);
}

/* The files of <dir> as one credential (one reference, the caller's). */
static struct tls_cred *
cred_load(const char *dir, char *err, size_t err_len)
{
    struct tls_cred *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, err_len, "out of memory loading %s", dir);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_fetch_add_explicit(&live_creds, 1, memory_order_relaxed);
    c->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
    char chain[4096], key[4096], root[4096];
    snprintf(chain, sizeof(chain), "%s/cert-chain.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(root, sizeof(root), "%s/root-cert.pem", dir);
    SSL_CTX *ctx = c->client = SSL_CTX_new(TLS_client_method());
    if (!ctx) return fail(c, err, err_len, "cannot create a TLS context for", dir);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, chain) != 1)
        return fail(c, err, err_len, "cannot load", chain);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return fail(c, err, err_len, "cannot load", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(c, err, err_len, "key does not match the certificate in", dir);
    if (SSL_CTX_load_verify_locations(ctx, root, NULL) != 1)
        return fail(c, err, err_len, "cannot load", root);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Client sessions are kept per endpoint by conn.c, not in OpenSSL's cache. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, tls_conn_new_session);
    static const unsigned char alpn[] = "\x13istio-peer-exchange\x05istio";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    spiffe_of(SSL_CTX_get0_certificate(ctx), c->spiffe, sizeof(c->spiffe));
    /* The server side (inbound sidecar): the same certificate, a client certificate from
     * the mesh root required. */
    SSL_CTX *srv = c->server = SSL_CTX_new(TLS_server_method());
    if (!srv) return fail(c, err, err_len, "cannot create a TLS context for", dir);
    SSL_CTX_set_min_proto_version(srv, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(srv, chain) != 1 ||
        SSL_CTX_use_PrivateKey_file(srv, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(srv, root, NULL) != 1)
        return fail(c, err, err_len, "cannot load the server certificate from", dir);
    SSL_CTX_set_verify(srv, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(srv, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(srv, (const unsigned char *)"meshlet", 7);
    SSL_CTX_set_alpn_select_cb(srv, tls_alpn_select, NULL);
    const char *td = c->spiffe[0] ? c->spiffe + 9 : "cluster.local";
    size_t n = strcspn(td, "/");
    if (n >= sizeof(c->trust_domain)) n = sizeof(c->trust_domain) - 1;
    memcpy(c->trust_domain, td, n);
    c->trust_domain[n] = '\0';
    return c;
}

/* The chain and key files' identity (inode, size, mtime); zeroed when missing. */
static void
files_stat(const char *dir, struct stat *chain, struct stat *key)
{
    char path[4096];
    memset(chain, 0, sizeof(*chain));
    memset(key, 0, sizeof(*key));
    snprintf(path, sizeof(path), "%s/cert-chain.pem", dir);
    stat(path, chain);
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    stat(path, key);
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct tls_identity *
tls_identity_load(const char *dir, char *err, size_t err_len)
{
    struct stat chain, key;
    files_stat(dir, &chain, &key); /* before reading: a change meanwhile is seen next check */
    struct tls_cred *c = cred_load(dir, err, err_len);
    if (!c) return NULL;
    struct tls_identity *id = calloc(1, sizeof(*id));
    if (!id) {
        snprintf(err, err_len, "out of memory loading %s", dir);
        cred_free(c);
        return NULL;
    }
    id->dir = dir;
    pthread_mutex_init(&id->lock, NULL);
    id->cur = c;
    id->chain = chain;
    id->key = key;
    memcpy(id->trust_domain, c->trust_domain, sizeof(id->trust_domain));
    return id;
}

void
tls_identity_free(struct tls_identity *id)
{
    if (!id) return;
    if (id->loop) wheel_disarm(&id->loop->wheel, &id->t);
    tls_cred_release(id->cur);
    pthread_mutex_destroy(&id->lock);
    free(id);
}

int
tls_identity_check(struct tls_identity *id, char *err, size_t err_len)
{
    struct stat chain, key;
    files_stat(id->dir, &chain, &key);
    if (same_file(&chain, &id->chain) && same_file(&key, &id->key)) return 0;
    struct tls_cred *c = cred_load(id->dir, err, err_len);
    if (!c) return 0;
    pthread_mutex_lock(&id->lock);
    struct tls_cred *old = id->cur;
    id->cur = c;
    pthread_mutex_unlock(&id->lock);
    /* Connections that started with it keep it alive; the last one to close frees it. */
    tls_cred_release(old);
    id->chain = chain;
    id->key = key;
    return 1;
}

static void
on_check(struct wheel_timer *t)
{
    struct tls_identity *id = container_of(t, struct tls_identity, t);
    char err[1024];
    if (tls_identity_check(id, err, sizeof(err)) == 1)
        log_msg(LOG_INFO, "identity %s reloaded from %s", tls_identity_spiffe(id), id->dir);
    wheel_arm(&id->loop->wheel, &id->t, now_ms() + CERTS_CHECK_MS);
}

void
tls_identity_watch(struct tls_identity *id, struct loop *loop)
{
    id->loop = loop;
    id->t.cb = on_check;
    wheel_arm(&loop->wheel, &id->t, now_ms() + CERTS_CHECK_MS);
}

const char *
tls_identity_spiffe(const struct tls_identity *id)
{
    return id->cur->spiffe; /* [M]: only the main thread replaces <cur> */
}

struct ssl_ctx_st *
tls_identity_client_ctx(const struct tls_identity *id)
{
    return id->cur->client;
}

const char *
tls_identity_trust_domain(const struct tls_identity *id)
{
    return id->trust_domain;
}

struct tls_cred *
tls_identity_acquire(const struct tls_identity *id)
{
    /* The lock is not the identity's value: taking it leaves the identity as it was. */
    struct tls_identity *m = (struct tls_identity *)id;
    pthread_mutex_lock(&m->lock);
    struct tls_cred *c = m->cur;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&m->lock);
    return c;
}

void
tls_cred_release(struct tls_cred *c)
{
    if (!c) return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    cred_free(c);
}

struct ssl_ctx_st *
tls_cred_client_ctx(const struct tls_cred *c)
{
    return c->client;
}

struct ssl_ctx_st *
tls_cred_server_ctx(const struct tls_cred *c)
{
    return c->server;
}

const char *
tls_cred_spiffe(const struct tls_cred *c)
{
    return c->spiffe;
}

uint64_t
tls_cred_serial(const struct tls_cred *c)
{
    return c->serial;
}

size_t
tls_cred_live(void)
{
    return atomic_load_explicit(&live_creds, memory_order_relaxed);
}
