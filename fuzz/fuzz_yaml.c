/* fuzz_yaml.c — YAML recipe text: the parser (anchors, aliases, nesting,
 * size bounds), then every getter on what it built, a deep copy and the
 * unused-field check. */
#include "fuzz_common.h"
#include "parse.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    cf_error err;
    cf_node *n = cf_yaml_parse_string(text, "fuzz.yaml", &err);
    if (n) {
        cf_node *c = cf_node_clone(n);
        fuzz_walk(n);
        cf_node_free(c);
        cf_node_free(n);
    }
    free(text);
    return 0;
}
