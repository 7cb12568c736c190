/* draw.h — small curses helpers shared by the pane drawers: colour
 * roles, clipped text, titles and separators.  Everything draws into
 * stdscr; the caller shows a finished frame with one doupdate(). */
#ifndef CF_UI_DRAW_H
#define CF_UI_DRAW_H

#include <curses.h>
#include <stdbool.h>

#include "layout.h"
#include "view.h"

enum {
    CF_ROLE_TEXT, CF_ROLE_DIM, CF_ROLE_RAW, CF_ROLE_SMOOTH, CF_ROLE_TEST,
    CF_ROLE_SERIES0,                       /* .. CF_ROLE_SERIES0 + 5: accuracy curves */
    CF_ROLE_BAD = CF_ROLE_SERIES0 + 6, CF_ROLE_WARN, CF_ROLE_GOOD,
    CF_ROLE_STATUS, CF_ROLE_TITLE, CF_ROLE_FOCUS, CF_ROLE_HEADER, CF_NROLES
};

/* Set up colour pairs (when the terminal has colours) and remember
 * whether to use them, and whether lines are drawn with ASCII (-|+)
 * rather than the terminal's line-drawing characters. */
void cf_draw_init(bool color, bool ascii);
/* Line-drawing characters, ASCII ones in ASCII mode. */
chtype cf_ch(int which);
enum { CF_CH_H, CF_CH_V, CF_CH_TEE, CF_CH_LL, CF_CH_UL, CF_CH_UR, CF_CH_LR };
attr_t cf_role(int role);

/* Text clipped to `width` columns (UTF-8 aware: one column per code
 * point, which holds for everything this UI prints).  Returns columns
 * used. */
int cf_put(int y, int x, int width, int role, const char *s);
int cf_put_attr(int y, int x, int width, attr_t attr, const char *s);
/* Columns a UTF-8 string takes (code points). */
int cf_text_cols(const char *s);

/* Pane frame: a title row (horizontal line with the name, highlighted
 * when focused) and, for a pane not at the left edge, a vertical line on
 * its left.  Returns the inner rectangle. */
cf_rect cf_pane_frame(const cf_rect *r, const char *name, bool focused);

/* Column where a title's segments begin: one line character after the
 * pane's name. */
int cf_title_start(const cf_rect *r, const char *name);
/* Segments of a title after the name: drawn from column *x on row y,
 * each " text " in its role; a segment that does not fit before `end`
 * is left out, with all after it. */
void cf_title_seg(int y, int *x, int end, int role, const char *text);

/* ---- the panes (panes_*.c) ---- */
void cf_draw_loss(cf_view *v, const cf_rect *r);
void cf_draw_acc(cf_view *v, const cf_rect *r);
void cf_draw_layers(cf_view *v, const cf_rect *r);
void cf_draw_log(cf_view *v, const cf_rect *r);
void cf_draw_ranks(cf_view *v, const cf_rect *r);
void cf_draw_mem(cf_view *v, const cf_rect *r);
void cf_draw_status(cf_view *v, const cf_rect *r);
void cf_draw_footer(cf_view *v, const cf_rect *r);
void cf_draw_help(cf_view *v, int cols, int rows);
/* The whole frame: erase, then every pane for the current size. */
void cf_draw_frame(cf_view *v, int cols, int rows);

#endif
