/* SPDX-License-Identifier: Apache-2.0 */
/* Certificates described as Envoy's /certs does (CertificateDetails): path, serial number,
 * subject, subject alternative names, days until expiration, validity. JSON objects
 * appended to a strbuf, for the admin server. [M] */
#ifndef MESHLET_TLS_CERTINFO_H
#define MESHLET_TLS_CERTINFO_H

#include <stddef.h>

#include "core/strbuf.h"

struct tls_identity;

/* One object per certificate in PEM file <path>, each preceded by ',' unless <n_before> is
 * 0 and it is the first; how many were written (0 when the file cannot be read). When
 * <min_days> is not NULL, it is lowered to the fewest days until one of them expires (a
 * negative value: none seen yet). */
size_t certinfo_file(struct strbuf *sb, const char *path, size_t n_before, int *min_days);

/* The same for the chain identity <id> presents (as loaded, from <path>). */
size_t certinfo_identity(struct strbuf *sb, const struct tls_identity *id, const char *path,
                         size_t n_before, int *min_days);

#endif
