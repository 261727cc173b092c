/* SPDX-License-Identifier: Apache-2.0 */
/* The config store as the command-line tools read it (apply, get, delete, check, explain):
 * its endpoints and TLS, and the keys under its prefix as one range read them, at one
 * revision. Keys whose first segment starts with '.' (.status/) are not config. */
#ifndef MESHLET_CLI_STORE_H
#define MESHLET_CLI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/source.h"
#include "control/etcd_http.h"
#include "core/strbuf.h"

#define EXIT_STORE 4 /* etcd cannot be reached, or refused the call (cli.h's are 0..2) */
#define STORE_ANSWER_MAX (256u << 20)

struct stored {
    char *key;
    char *value;
    size_t len;
    int64_t mod_revision;
    bool replaced; /* apply: by a file's resource, or deleted: not in the resulting config */
};

struct store {
    const char *cmd;          /* for messages: "apply", "get", "check", ... */
    struct tls_upstream *tls; /* owned: the https:// endpoints' context, or NULL */
    struct etcd_endpoint *eps;
    size_t n_eps;
    char *prefix; /* owned: ends with '/' */
    struct stored *kvs;
    size_t n, cap;
    int64_t revision;        /* of the last read */
    int64_t written;         /* apply: the revision of its transaction (0: nothing written) */
    struct source_doc *docs; /* owned: store_docs' */
    char **names;            /* owned: their names, KEY@MOD_REVISION */
    size_t n_names;
};

/* Endpoints <urls>, their TLS files (any may be NULL), and <prefix> ("/meshlet" becomes
 * "/meshlet/", as `meshlet run` reads it). CLI_OK, or CLI_USAGE said on stderr. */
int store_open(struct store *st, const char *cmd, const char *urls, const char *prefix,
               const char *ca, const char *cert, const char *key);
void store_fini(struct store *st);

/* POST <body> to <path>: the answer in <out>. CLI_OK or EXIT_STORE (said on stderr). */
int store_call(struct store *st, const char *path, const struct strbuf *body, struct strbuf *out);

/* Read the keys under <under> (a key prefix below st->prefix; <one>: that key alone) in key
 * order, at one revision, appended to st->kvs. CLI_OK or EXIT_STORE. */
int store_read(struct store *st, const char *under, bool one);

struct stored *store_find(struct store *st, const char *key);

/* The keys read and not replaced, as documents for config_load_docs (named KEY@MOD_REVISION,
 * as `meshlet run --etcd` names them in messages): how many, or -1 when out of memory. */
ssize_t store_docs(struct store *st, const struct source_doc **docs);

#endif
