/* SPDX-License-Identifier: Apache-2.0 */
/* GET /config_dump: the live snapshot as JSON (its version, the files it came from, its
 * listeners with their virtual hosts and routes, its clusters with their endpoints and the
 * compiled policy). [M] */
#ifndef MESHLET_ADMIN_CONFIG_DUMP_H
#define MESHLET_ADMIN_CONFIG_DUMP_H

#include "core/strbuf.h"
#include "model/model.h"

void config_dump_write(const struct snapshot *s, struct strbuf *sb);

/* An endpoint's labels as a JSON object (also /clusters). */
void config_dump_labels(struct strbuf *sb, const struct model_endpoint *ep);

#endif
