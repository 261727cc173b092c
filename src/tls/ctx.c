/* SPDX-License-Identifier: Apache-2.0 */
/* Gateway (SIMPLE, MUTUAL; chosen by SNI) and upstream SIMPLE/MUTUAL SSL_CTX from the
 * config's files, shared by every worker. The workload identity's contexts are certs.c's. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls/conn.h"

void
tls_error_reason(char *err, size_t n, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char ossl[256] = "";
    if (e) ERR_error_string_n(e, ossl, sizeof(ossl));
    snprintf(err, n, "%s %s%s%s", what, path, e ? ": " : "", ossl);
    ERR_clear_error();
}

struct tls_gateway {
    bool http; /* ALPN h2 / http/1.1 offered: an HTTPS port, not a TCP one */
    size_t n;
    struct gw_server {
        SSL_CTX *ctx;
        char **hosts;
        size_t n_hosts;
    } * srv;
};

/* Does SNI <name> fall under Gateway host <pattern> ("*", "*.suffix" or exact)? */
static bool
host_matches(const char *pattern, const char *name)
{
    if (!strcmp(pattern, "*")) return true;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t pl = strlen(pattern + 1), nl = strlen(name);
        return nl > pl && !strcasecmp(name + nl - pl, pattern + 1);
    }
    return !strcasecmp(pattern, name);
}

/* SNI: switch the connection to the first server whose hosts cover the name (exact names
 * before wildcards would be Envoy's order; servers are tried in configuration order). */
static int
on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct tls_gateway *g = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK; /* the default server */
    for (size_t i = 0; i < g->n; i++) {
        for (size_t h = 0; h < g->srv[i].n_hosts; h++) {
            if (!host_matches(g->srv[i].hosts[h], name)) continue;
            SSL_CTX *ctx = g->srv[i].ctx;
            if (SSL_get_SSL_CTX(ssl) != ctx) {
                SSL_set_SSL_CTX(ssl, ctx);
                SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
            }
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                unsigned int inlen, void *arg)
{
    (void)arg;
    /* HTTP/2 when the client offers it, then HTTP/1.1 (Envoy's order for HTTPS servers),
     * then the same under the names an Istio sidecar's ALPN override gives them (what its
     * HTTP inbound filter chains match); a TCP inbound's only the exchange (Istio's TCP
     * inbound filter chains). */
    static const unsigned char ours[] =
        "\x02h2\x08http/1.1\x08istio-h2\x0eistio-http/1.1\x0eistio-http/1.0";
    static const unsigned char exchange[] = "\x13istio-peer-exchange";
    bool tcp = tls_conn_ssl_accepts_peer_exchange(ssl);
    const unsigned char *offer = tcp ? exchange : ours;
    unsigned int offer_len = tcp ? sizeof(exchange) - 1 : sizeof(ours) - 1;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, offer, offer_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* none in common: no ALPN, HTTP/1.1 */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

struct tls_gateway *
tls_gateway_new(bool http)
{
    struct tls_gateway *g = calloc(1, sizeof(struct tls_gateway));
    if (g) g->http = http;
    return g;
}

/* 10..13 (TLS 1.0..1.3) as OpenSSL's version number; 0 gives <dflt>. */
static int
ossl_version(int v, int dflt)
{
    return v == 10   ? TLS1_VERSION
           : v == 11 ? TLS1_1_VERSION
           : v == 12 ? TLS1_2_VERSION
           : v == 13 ? TLS1_3_VERSION
                     : dflt;
}

int
tls_gateway_add(struct tls_gateway *g, const char *const *hosts, size_t n_hosts, const char *cert,
                const char *key, const char *ca, int min_version, int max_version,
                const char *ciphers, char *err, size_t err_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const char *what = NULL, *path = "";
    if (!ctx)
        what = "cannot create a TLS context";
    else if (SSL_CTX_set_min_proto_version(ctx, ossl_version(min_version, TLS1_2_VERSION)) != 1 ||
             SSL_CTX_set_max_proto_version(ctx, ossl_version(max_version, TLS1_3_VERSION)) != 1)
        what = "cannot set the TLS versions";
    else if (ciphers && SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
        what = "no usable cipher in cipherSuites", path = ciphers;
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "cannot load", path = cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = "cannot load", path = key;
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the key does not match the certificate", path = key;
    else if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        what = "cannot load", path = ca;
    struct gw_server *grown = what ? NULL : realloc(g->srv, (g->n + 1) * sizeof(*g->srv));
    char **names = grown ? calloc(n_hosts + 1, sizeof(char *)) : NULL;
    if (!what && !names) what = "out of memory";
    if (what) {
        tls_error_reason(err, err_len, what, path);
        SSL_CTX_free(ctx);
        if (grown) g->srv = grown;
        return -1;
    }
    g->srv = grown;
    for (size_t i = 0; i < n_hosts; i++) names[i] = strdup(hosts[i]);
    if (ca) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"meshlet-gw", 10);
    /* No renegotiation: the SNI callback's argument lives only as long as its snapshot. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (g->http) SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, g);
    g->srv[g->n++] = (struct gw_server){ctx, names, n_hosts};
    return 0;
}

void
tls_gateway_free(struct tls_gateway *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) {
        SSL_CTX_free(g->srv[i].ctx);
        for (size_t h = 0; h < g->srv[i].n_hosts; h++) free(g->srv[i].hosts[h]);
        free(g->srv[i].hosts);
    }
    free(g->srv);
    free(g);
}

struct ssl_ctx_st *
tls_gateway_ctx(const struct tls_gateway *g)
{
    return g->srv[0].ctx;
}

struct tls_upstream {
    SSL_CTX *ctx;
};

struct tls_upstream *
tls_upstream_load(const char *ca, const char *cert, const char *key, bool insecure, char *err,
                  size_t err_len)
{
    struct tls_upstream *u = calloc(1, sizeof(*u));
    SSL_CTX *ctx = u ? SSL_CTX_new(TLS_client_method()) : NULL;
    const char *what = NULL, *path = "";
    if (!ctx)
        what = "cannot create a TLS context";
    else if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "cannot load", path = cert;
    else if (cert && key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = "cannot load", path = key;
    else if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        what = "cannot load", path = ca;
    else if (!ca && SSL_CTX_set_default_verify_paths(ctx) != 1)
        what = "cannot load the system's CA certificates";
    if (what) {
        tls_error_reason(err, err_len, what, path);
        SSL_CTX_free(ctx);
        free(u);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, tls_conn_new_session);
    u->ctx = ctx;
    return u;
}

void
tls_upstream_free(struct tls_upstream *u)
{
    if (!u) return;
    SSL_CTX_free(u->ctx);
    free(u);
}

struct ssl_ctx_st *
tls_upstream_ctx(const struct tls_upstream *u)
{
    return u->ctx;
}
