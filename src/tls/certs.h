/* SPDX-License-Identifier: Apache-2.0 */
/* The workload identity (--identity DIR: cert-chain.pem, key.pem, root-cert.pem, Istio's
 * file names) and its rotation. Workers see one stable `struct tls_identity` for the whole
 * run; what rotates inside it is a refcounted credential (the files as loaded once, as
 * client and server SSL_CTX): each TLS connection holds the credential it started with,
 * new connections take the newest, and an old credential is freed by whoever drops its last
 * reference, so rotation goes on for as long as the process runs. [A: acquire/release;
 * M: load, check, free] */
#ifndef MESHLET_TLS_CERTS_H
#define MESHLET_TLS_CERTS_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct ssl_ctx_st;

struct tls_identity;
struct tls_cred;

/* Load cert-chain.pem, key.pem and root-cert.pem from <dir> (borrowed: must outlive the
 * identity). NULL with the reason in <err>. [M] */
struct tls_identity *tls_identity_load(const char *dir, char *err, size_t err_len);

/* Free <id> and its current credential; every worker must have stopped (connections hold
 * references to credentials, not to the identity). NULL is a no-op. [M] */
void tls_identity_free(struct tls_identity *id);

/* Have the files changed since they were last loaded? When they have and they load, the
 * new credential is in force for new connections: 1. 0 when nothing changed, or when
 * they do not load yet (a key that does not match its certificate means a rotation half
 * done: the next check retries; the reason is in <err>). [M] */
int tls_identity_check(struct tls_identity *id, char *err, size_t err_len);

/* Check every second on <loop> (until tls_identity_free), logging each rotation. [M] */
void tls_identity_watch(struct tls_identity *id, struct loop *loop);

/* The SPIFFE ID of the credential in force ("" when it has none) and the client SSL_CTX
 * of that credential (/certs describes its chain). [M] */
const char *tls_identity_spiffe(const struct tls_identity *id);
struct ssl_ctx_st *tls_identity_client_ctx(const struct tls_identity *id);

/* The trust domain of the first credential loaded: it does not change with rotation. [A] */
const char *tls_identity_trust_domain(const struct tls_identity *id);

/* The credential in force, acquired for the caller (a new connection); never NULL. [A] */
struct tls_cred *tls_identity_acquire(const struct tls_identity *id);

/* Drop a reference; the last one frees the credential. NULL is a no-op. [A] */
void tls_cred_release(struct tls_cred *c);

/* Its contexts and SPIFFE ID (valid while the reference is held), and a number no other
 * credential of the process has (TLS sessions remember which credential made them). */
struct ssl_ctx_st *tls_cred_client_ctx(const struct tls_cred *c);
struct ssl_ctx_st *tls_cred_server_ctx(const struct tls_cred *c);
const char *tls_cred_spiffe(const struct tls_cred *c);
uint64_t tls_cred_serial(const struct tls_cred *c);

/* Credentials of every identity not freed yet (tests, leak checks). [A] */
size_t tls_cred_live(void);

#endif
