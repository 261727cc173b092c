/* SPDX-License-Identifier: Apache-2.0 */
/* Envoy's CertificateDetails for /certs from OpenSSL's X509. days_until_expiration is a
 * string as in Envoy's JSON (a uint64 in its proto), 0 once expired. */
#include "tls/certinfo.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tls/certs.h"
#include "tls/conn.h"

static void
json_time(struct strbuf *sb, const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        strbuf_puts(sb, "null");
        return;
    }
    char out[32];
    strftime(out, sizeof(out), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    strbuf_puts(sb, out);
}

static void
subject_alt_names(struct strbuf *sb, X509 *x)
{
    strbuf_puts(sb, "[");
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t n = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const char *key = g->type == GEN_URI ? "uri" : g->type == GEN_DNS ? "dns" : NULL;
        char value[1024];
        if (key) {
            const ASN1_STRING *s =
                g->type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
            int len = ASN1_STRING_length(s);
            if (len < 0 || (size_t)len >= sizeof(value)) continue;
            memcpy(value, ASN1_STRING_get0_data(s), (size_t)len);
            value[len] = '\0';
        } else if (g->type == GEN_IPADD) {
            key = "ip_address";
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
            if (len == 4)
                snprintf(value, sizeof(value), "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
            else if (len != 16 || !inet_ntop(AF_INET6, p, value, sizeof(value)))
                continue;
        } else {
            continue;
        }
        strbuf_printf(sb, "%s{\"%s\":", n++ ? "," : "", key);
        strbuf_json_str(sb, value);
        strbuf_puts(sb, "}");
    }
    GENERAL_NAMES_free(names);
    strbuf_puts(sb, "]");
}

static void
describe(struct strbuf *sb, X509 *x, const char *path, bool comma, int *min_days)
{
    strbuf_puts(sb, comma ? ",{\"path\":" : "{\"path\":");
    strbuf_json_str(sb, path ? path : "");
    char serial[128] = "";
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) {
        for (size_t i = 0; hex[i] && i + 1 < sizeof(serial); i++)
            serial[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    strbuf_puts(sb, ",\"serial_number\":");
    strbuf_json_str(sb, serial);
    char subject[1024] = "";
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(bio, subject, sizeof(subject) - 1);
        subject[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
    strbuf_puts(sb, ",\"subject\":");
    strbuf_json_str(sb, subject);
    strbuf_puts(sb, ",\"subject_alt_names\":");
    subject_alt_names(sb, x);
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1 || days < 0 ||
        (days == 0 && secs < 0))
        days = 0;
    if (min_days && (*min_days < 0 || days < *min_days)) *min_days = days;
    strbuf_printf(sb, ",\"days_until_expiration\":\"%d\",\"valid_from\":", days);
    json_time(sb, X509_get0_notBefore(x));
    strbuf_puts(sb, ",\"expiration_time\":");
    json_time(sb, X509_get0_notAfter(x));
    strbuf_puts(sb, "}");
}

size_t
certinfo_file(struct strbuf *sb, const char *path, size_t n_before, int *min_days)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    size_t n = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
        describe(sb, x, path, n_before + n > 0, min_days);
        X509_free(x);
        n++;
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    fclose(f);
    return n;
}

size_t
certinfo_identity(struct strbuf *sb, const struct tls_identity *id, const char *path,
                  size_t n_before, int *min_days)
{
    SSL_CTX *ctx = tls_identity_client_ctx(id);
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (!leaf) return 0;
    describe(sb, leaf, path, n_before > 0, min_days);
    STACK_OF(X509) *chain = NULL;
    size_t n = 1;
    if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
        for (int i = 0; chain && i < sk_X509_num(chain); i++, n++)
            describe(sb, sk_X509_value(chain, i), path, true, min_days);
    return n;
}
