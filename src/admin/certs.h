/* SPDX-License-Identifier: Apache-2.0 */
/* GET /certs: the certificates in use, as Envoy's {"certificates":[{"ca_cert":[...],
 * "cert_chain":[...]}]}: the workload identity (--identity), each Gateway TLS server's,
 * and each SIMPLE/MUTUAL upstream's files. Each entry also says what it is for ("name"). [M] */
#ifndef MESHLET_ADMIN_CERTS_H
#define MESHLET_ADMIN_CERTS_H

#include "admin/admin.h"
#include "core/strbuf.h"

/* The page into <sb>; the fewest days until one of the certificates expires (-1: none). */
int certs_write(const struct admin *a, struct strbuf *sb);

/* Envoy's server.days_until_first_cert_expiring: that number alone (-1: no certificate). */
int certs_days_until_first_expiring(const struct admin *a);

#endif
