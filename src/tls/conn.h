/* SPDX-License-Identifier: Apache-2.0 */
/* TLS over a non-blocking socket with OpenSSL 3: mesh mTLS with the workload identity
 * (tls/certs.h), client and server; Gateway SIMPLE/MUTUAL; upstream SIMPLE/MUTUAL. A
 * connection is driven by the caller's event loop: handshake, read and write return "would
 * block" and are called again on the next socket event. [W; contexts: M] */
#ifndef MESHLET_TLS_CONN_H
#define MESHLET_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/xprt.h"

struct tls_gateway;
struct tls_upstream;

/* The workload identity (tls/certs.h): each connection made with it holds the credential
 * in force when it started, until tls_conn_free. */
struct tls_identity;

/* A Gateway's and an upstream's context, for conn.c. */
struct ssl_ctx_st;
struct ssl_ctx_st *tls_gateway_ctx(const struct tls_gateway *g);
struct ssl_ctx_st *tls_upstream_ctx(const struct tls_upstream *u);

/* A Gateway port's TLS: one context per server (SIMPLE, or MUTUAL when <ca> is given),
 * chosen by the client's SNI among the server's hosts ("*" and "*.suffix" as wildcards);
 * the first server added is the default. */
struct tls_gateway;
/* <http>: HTTPS servers, which choose h2 or http/1.1 by ALPN; a port that terminates TLS
 * for TCP negotiates no ALPN (Istio sets none on such servers). */
struct tls_gateway *tls_gateway_new(bool http);
/* Add a server: certificate chain and key files in PEM; TLS versions <min_version> to
 * <max_version> (10..13 for 1.0..1.3; 0: 1.2 and 1.3, Envoy's defaults) and OpenSSL cipher
 * list <ciphers> (NULL: OpenSSL's). -1 with the reason in <err>. */
int tls_gateway_add(struct tls_gateway *g, const char *const *hosts, size_t n_hosts,
                    const char *cert, const char *key, const char *ca, int min_version,
                    int max_version, const char *ciphers, char *err, size_t err_len);
void tls_gateway_free(struct tls_gateway *g);

/* A client context for SIMPLE or MUTUAL upstream TLS: trust <ca> (NULL: the system's CAs),
 * present <cert>/<key> when given, or verify nothing when <insecure>. */
struct tls_upstream;
struct tls_upstream *tls_upstream_load(const char *ca, const char *cert, const char *key,
                                       bool insecure, char *err, size_t err_len);
void tls_upstream_free(struct tls_upstream *u);

struct tls_conn;

/* A client connection on connected (or connecting) socket <fd>: SNI <sni>, the server's
 * chain must lead to the mesh root and, when <n_sans> > 0, its certificate must carry one
 * of the URI or DNS SANs <sans> (borrowed, must outlive the connection). NULL when out of
 * memory. */
struct tls_conn *tls_conn_client(const struct tls_identity *id, int fd, const char *sni,
                                 const char *const *sans, size_t n_sans);

/* Session resumption: the connection resumes the session kept in <*slot> (if any) and keeps
 * the server's newest ticket there (an SSL_SESSION, refcounted by OpenSSL). <slot> belongs
 * to the endpoint's runtime state and outlives the connection; that state lives as long as
 * the process, so nothing releases the session before exit. */
void tls_conn_resume(struct tls_conn *t, void **slot);

/* For ctx.c: OpenSSL's new-session callback on client contexts. */
struct ssl_st;
struct ssl_session_st;
int tls_conn_new_session(struct ssl_st *ssl, struct ssl_session_st *session);

/* Whether the handshake resumed a session. */
bool tls_conn_resumed(const struct tls_conn *t);
void tls_conn_free(struct tls_conn *t);

/* A server connection on accepted socket <fd> (an inbound sidecar listener): the client must
 * present a certificate that chains to the mesh root (mutual TLS). */
struct tls_conn *tls_conn_server(const struct tls_identity *id, int fd);

/* A client connection with SIMPLE or MUTUAL context <u>: SNI <sni>; unless the context is
 * insecure, the server must carry one of <sans> (URI or DNS), or when there are none,
 * the name <sni>. */
struct tls_conn *tls_conn_upstream(const struct tls_upstream *u, int fd, const char *sni,
                                   const char *const *sans, size_t n_sans);

/* A server connection on a Gateway listener with TLS <g>. */
struct tls_conn *tls_conn_gateway(const struct tls_gateway *g, int fd);

/* Server side, after the handshake: the x-forwarded-client-cert value Envoy's sidecar sets,
 * By=<our SPIFFE ID>;Hash=<SHA-256 of the client certificate>;Subject="";URI=<its ID>. */
const char *tls_conn_xfcc(const struct tls_conn *t);

/* Advance the handshake: 1 done (and the peer verified), 0 waiting for the socket, -1
 * failed (tls_conn_error says why). */
int tls_conn_handshake(struct tls_conn *t);

/* Plaintext in and out: bytes moved, 0 at the peer's close (read), -EAGAIN when the socket
 * must be waited for, or another -errno. A read that returns less than <n> does not mean
 * the socket is drained: read until -EAGAIN. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n);
ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t n);

/* Why the handshake failed ("certificate verify failed", "SAN mismatch: ..."). */
const char *tls_conn_error(const struct tls_conn *t);

/* The peer's first URI SAN once the handshake is done ("" if none). */
const char *tls_conn_peer_uri(const struct tls_conn *t);

/* A client connection offers only h2 by ALPN (an HTTP/2 upstream); over mesh mTLS
 * (<istio>) first under the names Istio's outbound ALPN override gives it (istio-h2,
 * istio), which an Istio sidecar's inbound filter chains match. */
void tls_conn_offer_h2(struct tls_conn *t, bool istio);
/* A mesh client connection of HTTP/1.1 offers istio-http/1.1 and istio instead of the
 * mesh's TCP list (Istio's outbound ALPN override, so an Envoy inbound takes it as HTTP). */
void tls_conn_offer_istio_http1(struct tls_conn *t);
/* Whether the handshake of <t> chose HTTP/2 by ALPN (h2, or Istio's istio-h2). */
bool tls_conn_alpn_h2(const struct tls_conn *t);

/* Istio's TCP metadata exchange is chosen by ALPN "istio-peer-exchange", which the mesh's
 * clients offer (certs.c). A server connection of a TCP inbound listener accepts it (call
 * before the handshake); whether a handshake chose it. */
void tls_conn_accept_peer_exchange(struct tls_conn *t);
bool tls_conn_peer_exchange(const struct tls_conn *t);

/* ctx.c: the ALPN a server side chooses (an SSL_CTX_set_alpn_select_cb callback): on a
 * connection that accepts the exchange, istio-peer-exchange when offered, else none; on
 * others h2 when the client offers it, else http/1.1, else the names an Istio sidecar
 * gives them (istio-h2, istio-http/1.1, istio-http/1.0), else none. */
struct ssl_st;
bool tls_conn_ssl_accepts_peer_exchange(const struct ssl_st *ssl);
int tls_alpn_select(struct ssl_st *ssl, const unsigned char **out, unsigned char *outlen,
                    const unsigned char *in, unsigned int inlen, void *arg);

/* ctx.c: "<what> <path>: <OpenSSL's reason>" into <err>, and OpenSSL's error queue
 * cleared. */
void tls_error_reason(char *err, size_t n, const char *what, const char *path);

/* The TLS transport (core/xprt.h); its state is the struct tls_conn. [W] */
extern const struct xprt_ops tls_xprt;

#endif
