/* cmd_train.c — `cafetui RECIPE`, `cafetui --headless RECIPE`,
 * `cafetui train RECIPE` / `train --solver FILE`: open a session, then
 * hand it to the TUI when there is a terminal (under mpirun: on rank 0,
 * its controlling terminal), else to the headless runner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "dist/dist.h"
#include "headless.h"
#include "term.h"
#include "tui.h"

int cf_report(const cf_error *err)
{
    char buf[2048];
    fprintf(stderr, "cafetui: %s\n", cf_error_str(err, buf, sizeof buf));
    return err->code ? err->code : 1;
}

/* A terminal for the TUI: stdin and stdout, or under mpirun (several
 * processes) rank 0's controlling terminal, since mpirun hands the ranks
 * pipes; the other ranks train headless and quiet. */
static bool can_use_tui(void)
{
    const char *term = getenv("TERM");
    if (!(term && term[0] && strcmp(term, "dumb"))) return false;
    if (cf_term_is_tty()) return true;
    const cf_dist *d = cf_dist_world();
    return cf_dist_size(d) > 1 && cf_dist_rank(d) == 0 && cf_term_ctty_ok();
}

int cf_cmd_train(int argc, char **argv, int first, int force_headless)
{
    const char *pos[2];
    int npos;
    for (cf_flag *f = cf_train_flags; f->name; f++) f->value = NULL;
    if (cf_args_parse(argc, argv, first, cf_train_flags, pos, 2, &npos)) return 2;
    if (cf_flag_get(cf_train_flags, "help")) {
        fprintf(stderr, "usage: cafetui [train] [--headless] RECIPE [options]\n");
        cf_flags_help(cf_train_flags);
        return 0;
    }
    const char *path = npos ? pos[0] : cf_flag_get(cf_train_flags, "solver");
    if (!path || npos > 1) {
        fprintf(stderr, "cafetui: %s\nusage: cafetui [train] [--headless] RECIPE [options] (see --help)\n",
                path ? "give one recipe" : "no recipe given");
        return 2;
    }
    bool asked = force_headless || cf_flag_get(cf_train_flags, "headless");
    bool headless = asked || !can_use_tui();
    cf_session s;
    cf_error err;
    int rc = cf_session_open(&s, path, cf_train_flags, &err);
    if (rc) {
        cf_session_close(&s);
        return cf_report(&err);
    }
    if (headless && !asked && cf_dist_rank(cf_dist_world()) == 0) fprintf(stderr, "cafetui: no terminal: running headless\n");
    rc = headless ? cf_headless_run(&s) : cf_tui_run(&s);
    cf_session_close(&s);
    return rc;
}
