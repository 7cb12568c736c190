/* tui.h — the ncurses workbench: panes for loss, accuracy, layers,
 * memory, status and log, keys to steer the run.  Talks to the engine
 * only through the session's monitor.  Returns the exit status (as the
 * headless runner). */
#ifndef CF_TUI_H
#define CF_TUI_H

#include "session.h"

int cf_tui_run(cf_session *s);

#endif
