/* SPDX-License-Identifier: Apache-2.0 */
/* GET /listeners: each listener of the live config and the address it listens on, as
 * Envoy's: "name::address" lines (L4 listeners add " tcp" or " tls", and " auto_passthrough"),
 * or with ?format=json {"listener_statuses":[{"name":...,"local_address":{"socket_address":
 * {"address":...,"port_value":...}},"kind":"http"|"tcp"|"tls"}]}. [M] */
#ifndef MESHLET_ADMIN_LISTENERS_H
#define MESHLET_ADMIN_LISTENERS_H

#include <stdbool.h>

#include "admin/admin.h"
#include "core/strbuf.h"

struct model_listener;

/* "http", "tcp" or "tls" (SNI passthrough): what <ml> speaks. */
const char *listeners_kind_name(const struct model_listener *ml);

void listeners_write(const struct admin *a, struct strbuf *sb, bool json);

#endif
