/* SPDX-License-Identifier: Apache-2.0 */
/* Root: subject O=<trust domain>, CA:TRUE, keyCertSign | cRLSign. Workload: empty subject,
 * so the SAN is critical (RFC 5280 §4.2.1.6), CA:FALSE, digitalSignature |
 * keyEncipherment, serverAuth and clientAuth: a certificate that serves both ends of an
 * mTLS connection, like Istio's. Serials are 128 random bits. */
#include "tls/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
fail(char *err, size_t n, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char ossl[256] = "";
    if (e) ERR_error_string_n(e, ossl, sizeof(ossl));
    int saved = errno;
    snprintf(err, n, "%s%s%s%s%s", what, path ? " " : "", path ? path : "", e || saved ? ": " : "",
             e ? ossl : (saved ? strerror(saved) : ""));
    ERR_clear_error();
    return -1;
}

void
tls_spiffe_id(const char *trust_domain, const char *ns, const char *sa, char *out, size_t cap)
{
    snprintf(out, cap, "spiffe://%s/ns/%s/sa/%s", trust_domain, ns, sa);
}

static bool
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for <key>, serial random, valid from now for <ttl_s>. */
static X509 *
new_cert(EVP_PKEY *key, uint64_t ttl_s)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    bool ok = x && bn && X509_set_version(x, 2) && BN_rand(bn, 127, BN_RAND_TOP_ANY, 0) &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -60) && /* tolerate clock skew */
              X509_gmtime_adj(X509_getm_notAfter(x), (long)ttl_s) && X509_set_pubkey(x, key);
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write <pem> to <dir>/<name> with <mode>, replacing the file atomically. */
static int
write_file(const char *dir, const char *name, int mode, int (*emit)(FILE *, void *), void *obj,
           char *err, size_t n)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return fail(err, n, "cannot write", tmp);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return fail(err, n, "cannot write", tmp);
    }
    bool ok = emit(f, obj) == 1;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return fail(err, n, "cannot write", path);
    }
    return 0;
}

static int
emit_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int
emit_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x);
}

static int
emit_text(FILE *f, void *s)
{
    return fprintf(f, "%s\n", (const char *)s) > 0;
}

static int
make_dir(const char *dir, char *err, size_t n)
{
    if (mkdir(dir, 0755) && errno != EEXIST) return fail(err, n, "cannot create", dir);
    return 0;
}

int
tls_ca_init(const char *dir, const char *trust_domain, uint64_t ttl_s, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/root-key.pem", dir);
    if (access(path, F_OK) == 0) {
        snprintf(err, err_len, "%s exists: refusing to replace a mesh root", path);
        return -1;
    }
    if (make_dir(dir, err, err_len)) return -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? new_cert(key, ttl_s) : NULL;
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    bool ok =
        name &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)trust_domain, -1,
                                   -1, 0) &&
        X509_set_issuer_name(x, name) && add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
        add_ext(x, x, NID_subject_key_identifier, "hash") && X509_sign(x, key, EVP_sha256()) > 0;
    int rc = ok ? 0 : fail(err, err_len, "cannot create the root certificate", NULL);
    if (!rc) rc = write_file(dir, "root-key.pem", 0600, emit_key, key, err, err_len);
    if (!rc) rc = write_file(dir, "root-cert.pem", 0644, emit_cert, x, err, err_len);
    if (!rc)
        rc = write_file(dir, "trust-domain", 0644, emit_text, (void *)trust_domain, err, err_len);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* The CA's key, certificate and trust domain from <dir>. */
static int
load_ca(const char *dir, EVP_PKEY **key, X509 **cert, char *td, size_t td_len, char *err, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/root-key.pem", dir);
    FILE *f = fopen(path, "r");
    if (!f) return fail(err, n, "cannot read", path);
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!*key) return fail(err, n, "not a private key:", path);
    snprintf(path, sizeof(path), "%s/root-cert.pem", dir);
    if (!(f = fopen(path, "r"))) return fail(err, n, "cannot read", path);
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!*cert) return fail(err, n, "not a certificate:", path);
    snprintf(path, sizeof(path), "%s/trust-domain", dir);
    if (!(f = fopen(path, "r"))) return fail(err, n, "cannot read", path);
    bool got = fgets(td, (int)td_len, f) != NULL;
    fclose(f);
    td[strcspn(td, "\r\n")] = '\0';
    if (!got || !*td) {
        snprintf(err, n, "%s is empty", path);
        return -1;
    }
    return 0;
}

int
tls_ca_issue(const char *ca_dir, const char *ns, const char *sa, const char *out_dir,
             uint64_t ttl_s, char *id, size_t id_len, char *err, size_t err_len)
{
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *x = NULL;
    char td[256], san[1100];
    int rc = load_ca(ca_dir, &ca_key, &ca, td, sizeof(td), err, err_len);
    if (!rc) rc = make_dir(out_dir, err, err_len);
    if (!rc) {
        tls_spiffe_id(td, ns, sa, id, id_len);
        snprintf(san, sizeof(san), "critical,URI:%s", id);
        key = EVP_EC_gen("P-256");
        x = key ? new_cert(key, ttl_s) : NULL;
        bool ok = x && X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
                  add_ext(x, ca, NID_subject_alt_name, san) &&
                  add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") &&
                  add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
                  add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") &&
                  add_ext(x, ca, NID_authority_key_identifier, "keyid:always") &&
                  X509_sign(x, ca_key, EVP_sha256()) > 0;
        if (!ok) rc = fail(err, err_len, "cannot issue the workload certificate", NULL);
    }
    if (!rc) rc = write_file(out_dir, "key.pem", 0600, emit_key, key, err, err_len);
    if (!rc) rc = write_file(out_dir, "cert-chain.pem", 0644, emit_cert, x, err, err_len);
    if (!rc) rc = write_file(out_dir, "root-cert.pem", 0644, emit_cert, ca, err, err_len);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}
