/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: temporary files for loaders. */
#include "harness.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char dirs[64][256];
static int n_dirs;

const char *
harness_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "%s/meshlet-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    if (n_dirs < 64) snprintf(dirs[n_dirs++], sizeof(dirs[0]), "%s", tmpl);
    return dirs[n_dirs - 1];
}

static void
mkdirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(buf, 0755);
        *p = '/';
    }
}

const char *
harness_write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
    static char ring[8][512];
    static int next;
    char *path = ring[next++ % 8];
    snprintf(path, 512, "%s/%s", dir, name);
    mkdirs(path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        abort();
    }
    fclose(f);
    return path;
}

const char *
harness_write(const char *dir, const char *name, const char *text)
{
    return harness_write_bytes(dir, name, text, strlen(text));
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
harness_cleanup(void)
{
    for (int i = 0; i < n_dirs; i++) nftw(dirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
    n_dirs = 0;
}

const char *
harness_guarded(const void *data, size_t len)
{
    static char *region;
    static size_t region_len;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (region) munmap(region, region_len);
    size_t pages = (len + page - 1) / page + 1;
    region_len = pages * page;
    region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    char *guard = region + (pages - 1) * page;
    if (mprotect(guard, page, PROT_NONE)) {
        perror("mprotect");
        abort();
    }
    char *start = guard - len;
    memcpy(start, data, len);
    return start;
}
