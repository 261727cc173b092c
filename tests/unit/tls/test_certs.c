/* SPDX-License-Identifier: Apache-2.0 */
/* Workload identity rotation: a change of the files puts a new credential in force, the
 * old one lives exactly as long as a connection still uses it, a half-written rotation is
 * retried, and rotation goes on past any count (it once stopped after 64). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tls/ca.h"
#include "tls/certs.h"
#include "tls/conn.h"

static char dir_a[512], dir_b[512], dir_id[512];

static void
read_file(const char *dir, const char *name, char *out, size_t cap, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(out, 1, cap, f);
    fclose(f);
}

/* Copy <name> from <from> into the identity directory, stamped with mtime <stamp> s (the
 * file system's own clock may be too coarse to tell two quick writes apart). */
static void
put(const char *from, const char *name, long stamp)
{
    char buf[16384];
    size_t len;
    read_file(from, name, buf, sizeof(buf), &len);
    const char *path = harness_write_bytes(dir_id, name, buf, len);
    struct timespec ts[2] = {{stamp, 0}, {stamp, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* The identity directory holds <from>'s chain and key (and the shared root). */
static void
rotate_to(const char *from, long stamp)
{
    put(from, "cert-chain.pem", stamp);
    put(from, "key.pem", stamp);
}

static int
setup(void **state)
{
    (void)state;
    char ca[512], err[512], id[256];
    snprintf(ca, sizeof(ca), "%s", harness_tmpdir());
    snprintf(dir_a, sizeof(dir_a), "%s", harness_tmpdir());
    snprintf(dir_b, sizeof(dir_b), "%s", harness_tmpdir());
    snprintf(dir_id, sizeof(dir_id), "%s", harness_tmpdir());
    if (tls_ca_init(ca, "cluster.local", 3600, err, sizeof(err))) fail_msg("ca init: %s", err);
    if (tls_ca_issue(ca, "default", "a", dir_a, 3600, id, sizeof(id), err, sizeof(err)) ||
        tls_ca_issue(ca, "default", "b", dir_b, 3600, id, sizeof(id), err, sizeof(err)))
        fail_msg("ca issue: %s", err);
    put(dir_a, "root-cert.pem", 1);
    rotate_to(dir_a, 1);
    return 0;
}

/* A server connection on one end of a socket pair: it holds the credential in force. */
static struct tls_conn *
hold(const struct tls_identity *id, int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct tls_conn *t = tls_conn_server(id, sv[0]);
    assert_non_null(t);
    return t;
}

static void
drop(struct tls_conn *t, int sv[2])
{
    tls_conn_free(t);
    close(sv[0]);
    close(sv[1]);
}

static void
test_certs_rotation_frees_what_no_connection_holds_past_64(void **state)
{
    (void)state;
    char err[1024] = "";
    size_t before = tls_cred_live();
    rotate_to(dir_a, 1);
    struct tls_identity *id = tls_identity_load(dir_id, err, sizeof(err));
    if (!id) fail_msg("load: %s", err);
    assert_int_equal(tls_cred_live(), before + 1);
    assert_non_null(strstr(tls_identity_spiffe(id), "/sa/a"));
    assert_string_equal(tls_identity_trust_domain(id), "cluster.local");
    assert_int_equal(tls_identity_check(id, err, sizeof(err)), 0); /* nothing changed */

    int sv[2];
    struct tls_conn *first = hold(id, sv); /* keeps the first credential alive */
    for (long i = 2; i < 2 + 200; i++) {
        rotate_to(i % 2 ? dir_a : dir_b, i);
        assert_int_equal(tls_identity_check(id, err, sizeof(err)), 1);
        assert_non_null(strstr(tls_identity_spiffe(id), i % 2 ? "/sa/a" : "/sa/b"));
        /* In force, and the first one still held: every other one is gone. */
        assert_int_equal(tls_cred_live(), before + 2);
    }
    /* A connection made now takes the newest; the first one's goes with its connection. */
    int sv2[2];
    struct tls_conn *newest = hold(id, sv2);
    drop(first, sv);
    assert_int_equal(tls_cred_live(), before + 1);
    rotate_to(dir_a, 1000);
    assert_int_equal(tls_identity_check(id, err, sizeof(err)), 1);
    assert_int_equal(tls_cred_live(), before + 2);
    drop(newest, sv2);
    assert_int_equal(tls_cred_live(), before + 1);
    tls_identity_free(id);
    assert_int_equal(tls_cred_live(), before);
}

/* A key that does not match its certificate yet is a rotation half written: the credential
 * in force stays, and the next check takes the finished files. */
static void
test_certs_half_written_rotation_is_retried(void **state)
{
    (void)state;
    char err[1024] = "";
    size_t before = tls_cred_live();
    rotate_to(dir_a, 1);
    struct tls_identity *id = tls_identity_load(dir_id, err, sizeof(err));
    if (!id) fail_msg("load: %s", err);
    put(dir_b, "cert-chain.pem", 2); /* the key is still a's */
    err[0] = '\0';
    assert_int_equal(tls_identity_check(id, err, sizeof(err)), 0);
    assert_true(err[0] != '\0'); /* why it did not load */
    assert_non_null(strstr(tls_identity_spiffe(id), "/sa/a"));
    assert_int_equal(tls_cred_live(), before + 1);
    put(dir_b, "key.pem", 2);
    assert_int_equal(tls_identity_check(id, err, sizeof(err)), 1);
    assert_non_null(strstr(tls_identity_spiffe(id), "/sa/b"));
    assert_int_equal(tls_cred_live(), before + 1);
    tls_identity_free(id);
    assert_int_equal(tls_cred_live(), before);
}

struct churn {
    const struct tls_identity *id;
    atomic_bool stop;
    size_t made;
};

/* A worker's part: a new TLS connection (acquire the credential in force), then its end. */
static void *
churn(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop) && c->made < 1000000) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) break;
        struct tls_conn *t = tls_conn_server(c->id, sv[0]);
        if (t) c->made++;
        tls_conn_free(t);
        close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

/* Connections come and go on other threads while the main thread rotates: no credential
 * is freed under a connection taking it (ThreadSanitizer and ASan watch), and none leaks. */
static void
test_certs_rotation_races_new_connections(void **state)
{
    (void)state;
    char err[1024] = "";
    size_t before = tls_cred_live();
    rotate_to(dir_a, 1);
    struct tls_identity *id = tls_identity_load(dir_id, err, sizeof(err));
    if (!id) fail_msg("load: %s", err);
    struct churn c[2] = {{.id = id}, {.id = id}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, churn, &c[i]), 0);
    for (long i = 2; i < 2 + 100; i++) {
        rotate_to(i % 2 ? dir_a : dir_b, i);
        assert_int_equal(tls_identity_check(id, err, sizeof(err)), 1);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&c[i].stop, true);
        pthread_join(th[i], NULL);
    }
    assert_true(c[0].made + c[1].made > 0);
    assert_int_equal(tls_cred_live(), before + 1);
    tls_identity_free(id);
    assert_int_equal(tls_cred_live(), before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certs_rotation_frees_what_no_connection_holds_past_64),
        cmocka_unit_test(test_certs_half_written_rotation_is_retried),
        cmocka_unit_test(test_certs_rotation_races_new_connections),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    harness_cleanup();
    return rc;
}
