/* SPDX-License-Identifier: Apache-2.0 */
/* Client TLS connections on non-blocking sockets. The chain is verified by OpenSSL against
 * the mesh root during the handshake; the SAN check (the server's SPIFFE ID must be one the
 * destination expects, spec §4.8) runs once the handshake is done, before any byte of the
 * request is written. */
#include "tls/conn.h"

#include "core/xprt.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tls/certs.h"

struct tls_conn {
    SSL *ssl;
    struct tls_cred *cred; /* refcounted: the identity's credential (NULL: not the mesh's) */
    bool server;
    bool peer_exchange; /* a TCP inbound's: ALPN istio-peer-exchange accepted */
    char *xfcc;         /* server side, built once the handshake is done */
    const char *const *sans;
    size_t n_sans;
    char error[640];
    void **slot; /* where this endpoint's resumable session is kept */
    bool failed; /* a TLS error: its session must not be resumed */
    char peer_uri[512];
};

/* A connection on <fd> from <ctx>, or from the client or server context of mesh
 * credential <cred> (a reference the connection takes over; NULL for SIMPLE/MUTUAL and
 * Gateway TLS). */
static struct tls_conn *
new_conn(SSL_CTX *ctx, struct tls_cred *cred, bool server, int fd)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (!t) {
        tls_cred_release(cred);
        return NULL;
    }
    t->cred = cred;
    if (cred) ctx = server ? tls_cred_server_ctx(cred) : tls_cred_client_ctx(cred);
    t->ssl = SSL_new(ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        tls_conn_free(t);
        return NULL;
    }
    return t;
}

static struct tls_conn *
client_conn(SSL_CTX *ctx, struct tls_cred *cred, int fd, const char *sni, const char *const *sans,
            size_t n_sans)
{
    struct tls_conn *t = new_conn(ctx, cred, false, fd);
    if (!t) return NULL;
    if (sni && *sni) SSL_set_tlsext_host_name(t->ssl, sni);
    SSL_set_connect_state(t->ssl);
    t->sans = sans;
    t->n_sans = n_sans;
    return t;
}

struct tls_conn *
tls_conn_client(const struct tls_identity *id, int fd, const char *sni, const char *const *sans,
                size_t n_sans)
{
    return client_conn(NULL, tls_identity_acquire(id), fd, sni, sans, n_sans);
}

struct tls_conn *
tls_conn_upstream(const struct tls_upstream *u, int fd, const char *sni, const char *const *sans,
                  size_t n_sans)
{
    SSL_CTX *ctx = tls_upstream_ctx(u);
    struct tls_conn *t = client_conn(ctx, NULL, fd, sni, sans, n_sans);
    if (!t) return NULL;
    bool verify = SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE;
    if (!verify) t->n_sans = 0;             /* insecureSkipVerify: no name check either */
    if (verify && !n_sans && sni && *sni) { /* the server must be the name we asked for */
        if (SSL_set1_host(t->ssl, sni) != 1) {
            tls_conn_free(t);
            return NULL;
        }
    }
    return t;
}

/* Session slots are shared by the workers; touched once per new connection. */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int ssl_index = -1, session_index = -1; /* our ex_data slots in SSL and SSL_SESSION */

static void
make_indexes(void)
{
    ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    session_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* What a session made on <t> is tagged with: its credential's serial (NULL: none). */
static void *
cred_tag(const struct tls_conn *t)
{
    return t->cred ? (void *)(uintptr_t)tls_cred_serial(t->cred) : NULL;
}

void
tls_conn_resume(struct tls_conn *t, void **slot)
{
    t->slot = slot;
    pthread_once(&index_once, make_indexes);
    SSL_set_ex_data(t->ssl, ssl_index, t);
    pthread_mutex_lock(&session_lock);
    /* Only a session made with this credential: after a rotation the server must see the
     * new certificate, and a resumed session would carry the old one. A serial, not the
     * pointer: a freed credential's address may come back as a new one's. */
    if (*slot && SSL_SESSION_get_ex_data(*slot, session_index) == cred_tag(t))
        SSL_set_session(t->ssl, *slot);
    pthread_mutex_unlock(&session_lock);
}

/* OpenSSL's new-session callback (TLS 1.3 tickets arrive after the handshake): keep it for
 * the endpoint's next connection. */
int
tls_conn_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct tls_conn *t = ssl_index >= 0 ? SSL_get_ex_data(ssl, ssl_index) : NULL;
    if (!t || !t->slot) return 0;
    SSL_SESSION_set_ex_data(session, session_index, cred_tag(t));
    pthread_mutex_lock(&session_lock);
    SSL_SESSION *old = *t->slot;
    *t->slot = session;
    pthread_mutex_unlock(&session_lock);
    SSL_SESSION_free(old);
    return 1; /* we keep the reference */
}

bool
tls_conn_resumed(const struct tls_conn *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

/* A server connection from <ctx>, or with mesh credential <cred> (inbound mTLS; its SPIFFE
 * ID goes into XFCC). */
static struct tls_conn *
server_conn(SSL_CTX *ctx, struct tls_cred *cred, int fd)
{
    struct tls_conn *t = new_conn(ctx, cred, true, fd);
    if (!t) return NULL;
    SSL_set_accept_state(t->ssl);
    t->server = true;
    return t;
}

struct tls_conn *
tls_conn_server(const struct tls_identity *id, int fd)
{
    return server_conn(NULL, tls_identity_acquire(id), fd);
}

struct tls_conn *
tls_conn_gateway(const struct tls_gateway *g, int fd)
{
    return server_conn(tls_gateway_ctx(g), NULL, fd);
}

void
tls_conn_free(struct tls_conn *t)
{
    if (!t) return;
    /* No close_notify is sent (the owner closes the socket), but a connection that ended
     * cleanly is marked shut down: OpenSSL would otherwise mark its session unresumable. */
    if (t->ssl && !t->failed && SSL_is_init_finished(t->ssl))
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl);
    tls_cred_release(t->cred);
    free(t->xfcc);
    free(t);
}

/* Envoy's XFCC for a sidecar: By (us), Hash (SHA-256 of the client's DER certificate, hex),
 * Subject (empty for workload certificates), URI (the client's SPIFFE ID). */
static void
build_xfcc(struct tls_conn *t)
{
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hash[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (peer && X509_digest(peer, EVP_sha256(), md, &n))
        for (unsigned int i = 0; i < n; i++) snprintf(hash + 2 * i, 3, "%02x", md[i]);
    const char *by = t->cred ? tls_cred_spiffe(t->cred) : "";
    size_t len = strlen(by) + strlen(hash) + strlen(t->peer_uri) + 64;
    t->xfcc = malloc(len);
    if (t->xfcc) snprintf(t->xfcc, len, "By=%s;Hash=%s;Subject=\"\";URI=%s", by, hash, t->peer_uri);
}

const char *
tls_conn_xfcc(const struct tls_conn *t)
{
    return t->xfcc ? t->xfcc : "";
}

/* Does the peer certificate carry one of the expected SANs (URI or DNS, exact)? Also
 * records its first URI SAN. */
static bool
san_matches(struct tls_conn *t)
{
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (!peer) return false;
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    bool ok = t->n_sans == 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *v = g->type == GEN_URI   ? g->d.uniformResourceIdentifier
                               : g->type == GEN_DNS ? g->d.dNSName
                                                    : NULL;
        if (!v) continue;
        const char *s = (const char *)ASN1_STRING_get0_data(v);
        size_t len = (size_t)ASN1_STRING_length(v);
        if (g->type == GEN_URI && !t->peer_uri[0] && len < sizeof(t->peer_uri)) {
            memcpy(t->peer_uri, s, len);
            t->peer_uri[len] = '\0';
        }
        for (size_t k = 0; k < t->n_sans && !ok; k++)
            ok = strlen(t->sans[k]) == len && !memcmp(t->sans[k], s, len);
    }
    GENERAL_NAMES_free(names);
    return ok;
}

/* The OpenSSL error of a failed call, in words. */
static void
record_error(struct tls_conn *t, int rc)
{
    t->failed = true;
    long verify = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_get_error();
    if (verify != X509_V_OK)
        snprintf(t->error, sizeof(t->error), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (e)
        ERR_error_string_n(e, t->error, sizeof(t->error));
    else
        snprintf(t->error, sizeof(t->error), "TLS error %d (%s)", SSL_get_error(t->ssl, rc),
                 errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

int
tls_conn_handshake(struct tls_conn *t)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        if (t->server) {    /* the chain was verified; any mesh identity may call */
            san_matches(t); /* records the client's URI SAN */
            if (t->cred) build_xfcc(t);
            return 1;
        }
        if (san_matches(t)) return 1;
        snprintf(t->error, sizeof(t->error), "SAN mismatch: the server is %s",
                 t->peer_uri[0] ? t->peer_uri : "no URI SAN");
        return -1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    record_error(t, rc);
    return -1;
}

ssize_t
tls_conn_read(struct tls_conn *t, void *buf, size_t n)
{
    ERR_clear_error();
    int rc = SSL_read(t->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (rc > 0) return rc;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) return 0; /* closed without notify */
    /* OpenSSL 3 reports that same close as an error. meshlet never sends close_notify
     * itself, and HTTP framing finds a truncated message: it is the end of stream. */
    if (e == SSL_ERROR_SSL &&
        ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return 0;
    }
    record_error(t, rc);
    return -EIO;
}

ssize_t
tls_conn_write(struct tls_conn *t, const void *buf, size_t n)
{
    ERR_clear_error();
    int rc = SSL_write(t->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
    if (rc > 0) return rc;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -EAGAIN;
    record_error(t, rc);
    return -EIO;
}

const char *
tls_conn_error(const struct tls_conn *t)
{
    return t->error;
}

void
tls_conn_offer_h2(struct tls_conn *t, bool istio)
{
    /* Istio's list is istio-h2 and istio; h2 stays last for a mesh server that is no
     * sidecar and wants it (a gRPC server's TLS refuses a client without h2) */
    static const unsigned char h2[] = "\x02h2", istio_h2[] = "\x08istio-h2\x05istio\x02h2";
    if (istio)
        SSL_set_alpn_protos(t->ssl, istio_h2, sizeof(istio_h2) - 1);
    else
        SSL_set_alpn_protos(t->ssl, h2, sizeof(h2) - 1);
}

void
tls_conn_offer_istio_http1(struct tls_conn *t)
{
    static const unsigned char http1[] = "\x0eistio-http/1.1\x05istio";
    SSL_set_alpn_protos(t->ssl, http1, sizeof(http1) - 1);
}

/* Whether the handshake of <t> chose ALPN <name>. */
static bool
alpn_chose(const struct tls_conn *t, const char *name)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    return n == strlen(name) && !memcmp(p, name, n);
}

bool
tls_conn_alpn_h2(const struct tls_conn *t)
{
    return alpn_chose(t, "h2") || alpn_chose(t, "istio-h2");
}

void
tls_conn_accept_peer_exchange(struct tls_conn *t)
{
    pthread_once(&index_once, make_indexes);
    t->peer_exchange = true;
    SSL_set_ex_data(t->ssl, ssl_index, t);
}

bool
tls_conn_ssl_accepts_peer_exchange(const SSL *ssl)
{
    const struct tls_conn *t = ssl_index >= 0 ? SSL_get_ex_data(ssl, ssl_index) : NULL;
    return t && t->peer_exchange;
}

bool
tls_conn_peer_exchange(const struct tls_conn *t)
{
    return alpn_chose(t, "istio-peer-exchange");
}

const char *
tls_conn_peer_uri(const struct tls_conn *t)
{
    return t->peer_uri;
}

static ssize_t
xprt_read(void *t, int fd, void *buf, size_t n)
{
    (void)fd;
    return tls_conn_read(t, buf, n);
}

static ssize_t
xprt_write(void *t, int fd, const void *buf, size_t n)
{
    (void)fd;
    return tls_conn_write(t, buf, n);
}

/* close_notify, then the TCP FIN. */
static int
xprt_shutdown(void *t, int fd)
{
    struct tls_conn *c = t;
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    return shutdown(fd, SHUT_WR) ? -errno : 0;
}

const struct xprt_ops tls_xprt = {
    .read = xprt_read,
    .write = xprt_write,
    .shutdown = xprt_shutdown,
    .record_reads = true,
};
