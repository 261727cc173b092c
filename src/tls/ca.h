/* SPDX-License-Identifier: Apache-2.0 */
/* The mesh CA: a root (ECDSA P-256) and workload certificates whose only identity is the
 * SPIFFE URI SAN spiffe://<trust-domain>/ns/<ns>/sa/<sa>, written as Istio mounts them.
 * Files and keys are made with OpenSSL 3. [M] */
#ifndef MESHLET_TLS_CA_H
#define MESHLET_TLS_CA_H

#include <stddef.h>
#include <stdint.h>

/* Create <dir> (if needed) with root-cert.pem, root-key.pem (mode 0600) and trust-domain
 * (the trust domain, one line) for a new root valid <ttl_s> seconds. Refuses to overwrite
 * an existing root. 0, or -1 with the reason in <err>. */
int tls_ca_init(const char *dir, const char *trust_domain, uint64_t ttl_s, char *err,
                size_t err_len);

/* Issue a workload certificate from the CA in <ca_dir> for service account <sa> of
 * namespace <ns>, valid <ttl_s> seconds: <out_dir>/cert-chain.pem, key.pem (0600) and
 * root-cert.pem; its SPIFFE ID into <id> (<id_len> bytes). 0, or -1 with the reason in
 * <err>. */
int tls_ca_issue(const char *ca_dir, const char *ns, const char *sa, const char *out_dir,
                 uint64_t ttl_s, char *id, size_t id_len, char *err, size_t err_len);

/* The SPIFFE ID of <ns>/<sa> in <trust_domain> into <out>. */
void tls_spiffe_id(const char *trust_domain, const char *ns, const char *sa, char *out, size_t cap);

#endif
