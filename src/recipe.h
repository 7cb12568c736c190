/* recipe.h — what `cafetui FILE` is given, loaded into a solver map and a
 * net map.  Three kinds of file are accepted:
 *
 *  (a) a recipe (YAML, or prototxt with a `solver` message): top-level keys
 *      name, description, solver (a map of SolverParameter fields) and net
 *      (the NetParameter inline as a map, or the path of a .yaml or
 *      .prototxt net, looked up relative to the recipe's directory first,
 *      then to the working directory);
 *  (b) a Caffe solver .prototxt: the whole file is the solver, and its
 *      net / net_param / train_net / train_net_param names the net; a path
 *      is relative to the working directory, as in Caffe (when it is not
 *      found there but is found next to the solver file, that one is used);
 *  (c) a net alone (YAML or prototxt with top-level `layer`/`layers`):
 *      net set, solver NULL (for `cafetui test`, `time`).
 *
 * In (a) the net may also be named inside `solver:` with the Caffe field
 * names, but only once in all.  A net in Caffe's V1 syntax is upgraded on
 * load (upgrade_v1.h) and `upgraded_v1` records it so that the caller can
 * say so.  Only the recipe's own top-level keys are checked here; the
 * fields of the solver and net maps are checked by their readers.
 */
#ifndef CF_RECIPE_H
#define CF_RECIPE_H

#include <stdbool.h>

#include "conftree.h"

typedef enum {
    CF_RECIPE_FULL,   /* (a) */
    CF_RECIPE_SOLVER, /* (b) */
    CF_RECIPE_NET,    /* (c) */
} cf_recipe_form;

typedef struct cf_recipe {
    cf_node *root;           /* the document at path (owned) */
    cf_node *solver;         /* solver map inside root, or NULL in form (c) */
    cf_node *net;            /* net map: inside root, or net_doc */
    char *path;              /* the file given */
    char *dir;               /* its directory ("." when none) */
    char *net_path;          /* the file the net was read from (== path when inline) */
    const char *name;        /* recipe `name:` (form a), else NULL; points into root */
    const char *description; /* recipe `description:`, else NULL */
    cf_recipe_form form;
    bool upgraded_v1;        /* the net was written in V1 syntax and upgraded */
    bool net_found_beside;   /* a Caffe solver's net path was not found from the working
                              * directory (Caffe's rule) but beside the solver file */
    cf_node *net_doc;        /* owned: a net read from its own file, or an
                              * inline net_param taken out of the solver map
                              * (so that the solver's unused-field check does
                              * not walk into the net) */
} cf_recipe;

/* Load path into *out (zeroed first).  Returns 0, or -1 with err set and
 * *out left empty. */
int cf_recipe_load(const char *path, cf_recipe *out, cf_error *err);
/* Free everything the recipe owns and zero it; NULL and empty are fine. */
void cf_recipe_free(cf_recipe *r);

#endif
