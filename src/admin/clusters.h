/* SPDX-License-Identifier: Apache-2.0 */
/* GET /clusters: every cluster of the live config with its counters, and every endpoint
 * with its labels, health, ejection state, TLS and answer counts; Envoy's text lines
 * (cluster::host:port::field::value) or JSON with ?format=json. [M] */
#ifndef MESHLET_ADMIN_CLUSTERS_H
#define MESHLET_ADMIN_CLUSTERS_H

#include <stdbool.h>

#include "admin/admin.h"
#include "core/strbuf.h"

void clusters_write(const struct admin *a, struct strbuf *sb, bool json);

#endif
