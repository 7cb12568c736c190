/* term.h — taking the terminal and always giving it back, for the two
 * full-screen front ends (the live TUI, tui.c, and `cafetui view`,
 * view_cmd.c).
 *
 * cf_term_start takes the screen (cbreak, no echo, keypad, no cursor,
 * colour when the terminal has it and NO_COLOR is unset) and makes sure
 * it is given back: cf_term_restore (safe to call twice) is hooked to
 * exit, and the fatal signals (SEGV, ABRT, BUS, FPE, ILL) restore it and
 * then re-raise.  While the screen is ours, stderr can be sent to a file
 * so that a stray message cannot scribble over the panes; restoring
 * brings it back. */
#ifndef CF_UI_TERM_H
#define CF_UI_TERM_H

#include <stdbool.h>

#include "view.h"

#define CF_TERM_TICK_MS 100
/* what cf_term_key returns when the terminal has gone */
#define CF_TERM_LOST (-2)

/* An environment variable set to something other than "" or "0". */
bool cf_env_on(const char *name);
/* Whether to draw with ASCII only: CAFETUI_ASCII, or a locale that is
 * not UTF-8 (call after setlocale). */
bool cf_term_ascii(void);
/* Whether stdin and stdout are a terminal. */
bool cf_term_is_tty(void);
/* Whether the process has a controlling terminal it can open (/dev/tty)
 * whose foreground is this process's group or its parent's: under mpirun
 * started in the foreground, on the launching host, rank 0 has the
 * launcher's, though its stdin and stdout are pipes. */
bool cf_term_ctty_ok(void);
/* Take the screen; sets v->color.  The screen is stdin/stdout when they
 * are a terminal, else the controlling terminal, whose foreground process
 * group this process then takes until cf_term_restore gives it back.
 * False when the terminal cannot be driven (nothing changed then). */
bool cf_term_start(cf_view *v);
/* Give the screen back (endwin) and stderr; the fatal-signal handlers
 * stay until cf_term_release_signals. */
void cf_term_restore(void);
void cf_term_release_signals(void);
/* Send stderr to fd until cf_term_restore. */
void cf_term_stderr_to(int fd);
/* Show the view: a frame drawn off-screen, then one update. */
void cf_term_draw(cf_view *v);
/* The next key: waits up to CF_TERM_TICK_MS (ERR when none came);
 * CF_TERM_LOST when the terminal has gone (getch keeps failing at once
 * instead of waiting: a hung-up line). */
int cf_term_key(void);
/* Keys already typed, without waiting (ERR when none). */
int cf_term_key_now(void);

#endif
