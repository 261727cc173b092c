/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline for the config-load benchmark: libfyaml alone parsing every document of a file
 * (each dropped after parsing, as meshlet does), with no decoding or checking. */
#include <libfyaml.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fy_parse FILE\n");
        return 2;
    }
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT};
    struct fy_parser *fyp = fy_parser_create(&cfg);
    if (!fyp || fy_parser_set_input_file(fyp, argv[1])) return 1;
    struct fy_document *doc;
    size_t n = 0;
    while ((doc = fy_parse_load_document(fyp))) {
        n++;
        fy_parse_document_destroy(fyp, doc);
    }
    fy_parser_destroy(fyp);
    printf("%zu documents\n", n);
    return 0;
}
