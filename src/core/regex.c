/* SPDX-License-Identifier: Apache-2.0 */
/* RE2-subset checking over PCRE2. PCRE2 accepts a superset of RE2; the constructs RE2
 * lacks are found by a scan that skips escapes and character classes, then PCRE2 compiles
 * the rest to catch ordinary syntax errors. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/regex.h"

#include <errno.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's wording, "error parsing regexp: <what>: `<fragment>`", and where: the offset of
 * <p> in <re>. */
static int
fail(char *err, size_t err_len, const char *re, const char *what, const char *p, size_t n)
{
    snprintf(err, err_len, "error parsing regexp: %s: `%.*s` at offset %zu", what, (int)n, p,
             (size_t)(p - re));
    return -EINVAL;
}

/* The RE2-only scan: returns 0 or -EINVAL with the reason. */
static int
scan_re2_subset(const char *re, char *err, size_t err_len)
{
    bool in_class = false;
    const char *class_start = NULL;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            char c = p[1];
            if (!c) return fail(err, err_len, re, "trailing backslash at end of expression", p, 1);
            /* Backreferences and PCRE-only escapes: Go reports them as invalid escapes. */
            if ((c >= '1' && c <= '9') || c == 'g' || c == 'k' || c == 'K' || c == 'R' ||
                c == 'X' || c == 'h' || c == 'H' || c == 'V' || c == 'N' || c == 'G' || c == 'Z' ||
                c == 'o')
                return fail(err, err_len, re, "invalid escape sequence", p, 2);
            p++;
            continue;
        }
        if (in_class) {
            if (*p == ']') in_class = false;
            continue;
        }
        if (*p == '[') {
            in_class = true;
            class_start = p;
            /* A ']' right after '[' or '[^' is literal. */
            if (p[1] == '^') p++;
            if (p[1] == ']') p++;
            continue;
        }
        if (*p == '(' && p[1] == '?') {
            const char *q = p + 2;
            if (q[0] == 'P' && (q[1] == '<' || q[1] == '=' || q[1] == '>')) {
                if (q[1] != '<') return fail(err, err_len, re, "invalid named capture", p, 4);
                continue;
            }
            if (q[0] == '<' && q[1] != '=' && q[1] != '!') continue; /* (?<name>..), Go 1.22+ */
            if (q[0] == ':') continue;
            /* Flag groups (?i) (?i:...) (?-s) use only the flags RE2 knows. */
            const char *f = q;
            while (*f == 'i' || *f == 'm' || *f == 's' || *f == 'U' || *f == '-') f++;
            if (f > q && (*f == ')' || *f == ':')) continue;
            size_t n = (q[0] == '<') ? 4 : 3;
            return fail(err, err_len, re, "invalid or unsupported Perl syntax", p, n);
        }
        if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '+')
            return fail(err, err_len, re, "invalid nested repetition operator", p, 2);
    }
    if (in_class)
        return fail(err, err_len, re, "missing closing ]", class_start, strlen(class_start));
    return 0;
}

int
regex_check(const char *pattern, char *err, size_t err_len)
{
    int rc = scan_re2_subset(pattern, err, err_len);
    if (rc) return rc;

    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        /* The rest of the pattern from the fault; all of it when the fault is its end
         * (Go quotes the whole regex for a missing ')'). */
        size_t len = strlen(pattern), at = offset < len ? (size_t)offset : len;
        snprintf(err, err_len, "error parsing regexp: %s: `%s` at offset %zu", (const char *)msg,
                 at < len ? pattern + at : pattern, at);
        return -EINVAL;
    }
    pcre2_code_free(re);
    return 0;
}

struct regex {
    pcre2_code *code; /* owned */
};

static struct regex *
compile(const char *pattern, uint32_t flags)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &code, &offset, NULL);
    if (!re) return NULL;
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
    struct regex *r = malloc(sizeof(*r));
    if (!r) {
        pcre2_code_free(re);
        return NULL;
    }
    r->code = re;
    return r;
}

struct regex *
regex_compile(const char *pattern)
{
    /* RE2 full match: the whole subject, as if wrapped in ^(?:...)$ with \z. */
    return compile(pattern, PCRE2_ANCHORED | PCRE2_ENDANCHORED);
}

struct regex *
regex_compile_search(const char *pattern)
{
    return compile(pattern, 0);
}

size_t
regex_substitute(const struct regex *re, const char *s, size_t len, const char *rewrite, char *out,
                 size_t cap)
{
    /* RE2 rewrites name groups \\1; PCRE2 wants ${1}, and a literal $ doubled. */
    char repl[1024];
    size_t k = 0;
    for (const char *p = rewrite; *p && k + 8 < sizeof(repl); p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') {
            k += (size_t)snprintf(repl + k, sizeof(repl) - k, "${%c}", p[1]);
            p++;
        } else if (*p == '$') {
            repl[k++] = '$';
            repl[k++] = '$';
        } else {
            repl[k++] = *p;
        }
    }
    repl[k] = '\0';
    PCRE2_SIZE out_len = cap;
    int rc = pcre2_substitute(re->code, (PCRE2_SPTR)s, len, 0, PCRE2_SUBSTITUTE_GLOBAL, NULL, NULL,
                              (PCRE2_SPTR)repl, k, (PCRE2_UCHAR *)out, &out_len);
    return rc < 0 ? 0 : (size_t)out_len;
}

void
regex_free(struct regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

bool
regex_full_match(const struct regex *re, const char *s, size_t len)
{
    static __thread pcre2_match_data *md;
    if (!md) md = pcre2_match_data_create(4, NULL);
    if (!md) return false;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    return rc >= 0;
}

bool
regex_search(const struct regex *re, const char *s, size_t len)
{
    return regex_full_match(re, s, len); /* compiled without anchors, so a match anywhere */
}
