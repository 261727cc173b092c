/* SPDX-License-Identifier: Apache-2.0 */
/* GET /certs: the certificates in use, as Envoy's {"certificates":[{"ca_cert":[...],
 * "cert_chain":[...]}]}: the workload identity (--identity), each Gateway TLS server's,
 * and each SIMPLE/MUTUAL upstream's files. Each entry also says what it is for ("name"). [M] */
#ifndef MESHLET_ADMIN_CERTS_H
#define MESHLET_ADMIN_CERTS_H

#include "admin/admin.h"
#include "core/strbuf.h"

void certs_write(const struct admin *a, struct strbuf *sb);

#endif
