/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet following a store, as its instances' status keys (control/status.c) say: read
 * in one range of the prefix, for `meshlet status` and `meshlet apply --wait`. */
#ifndef MESHLET_CLI_FLEET_H
#define MESHLET_CLI_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "control/etcd_http.h"

struct fleet_instance {
    char *name, *address, *error, *time;
    int64_t revision; /* the store revision of the config it serves */
    uint64_t version; /* its config version */
};

struct fleet {
    int64_t latest;               /* the newest config key's mod revision */
    struct fleet_instance *items; /* sorted by name */
    size_t n;
};

/* Read the fleet under <prefix> (ending with '/') from the first of <eps> that answers.
 * 0, or -1 with why in <err>; free with fleet_free either way. */
int fleet_read(const struct etcd_endpoint *eps, size_t n_eps, const char *prefix, struct fleet *f,
               char *err, size_t err_len);
void fleet_free(struct fleet *f);

/* "latest" (it serves a revision at least <f>->latest), "refused" (an older one, and its
 * last reload was refused) or "lagging". */
const char *fleet_state(const struct fleet *f, const struct fleet_instance *in);

/* Whether it serves revision <revision> or a later one. */
static inline int
fleet_serves(const struct fleet_instance *in, int64_t revision)
{
    return in->revision >= revision;
}

#endif
