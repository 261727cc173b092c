/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the config layer: any bytes as a config file go through loading,
 * decoding, validation and analysis, and a config without errors through the snapshot build
 * (delegation, header ops, CORS, hash tables), without a crash, a leak or undefined
 * behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "lb/lb.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.yaml", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    const char *paths[] = {path};
    if (config_load(&set, paths, 1, NULL, &dl) == 0) {
        config_analyze(&set, &dl);
        if (!dl.errors) {
            struct model_options opt = {
                .mesh_port = 15001,
                .ns = "default",
                .prepare_cluster = lb_prepare_cluster,
                .numeric_only = true,
            };
            char err[256];
            struct snapshot *snap = model_build(&set, &opt, err, sizeof(err));
            if (snap) model_release(snap);
        }
    }
    diag_list_fini(&dl);
    config_fini(&set);
    close(fd);
    return 0;
}
