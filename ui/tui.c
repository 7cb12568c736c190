/* tui.c — placeholder until the ncurses front end lands: runs headless. */
#include <stdio.h>

#include "headless.h"
#include "tui.h"

int cf_tui_run(cf_session *s)
{
    fprintf(stderr, "cafetui: the TUI is not built yet; running headless\n");
    return cf_headless_run(s);
}
