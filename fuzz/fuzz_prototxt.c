/* fuzz_prototxt.c — Caffe prototxt (protobuf text format): the parser
 * (strings and escapes, nesting, repeated fields, size bounds), then every
 * getter on what it built and the V1-to-current upgrade when it looks
 * like a V1 net. */
#include "fuzz_common.h"
#include "parse.h"
#include "upgrade_v1.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    cf_error err;
    cf_node *n = cf_prototxt_parse_string(text, "fuzz.prototxt", &err);
    if (n) {
        int up = 0;
        if (cf_upgrade_v1(n, &up, &err) == 0) fuzz_walk(n);
        cf_node_free(n);
    }
    free(text);
    return 0;
}
