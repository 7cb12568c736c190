/* keys.c — what each key does (the help overlay lists the same keys).
 * Keys change the view, or produce engine commands that the caller
 * sends through cf_monitor_send; nothing here talks to the engine or the
 * terminal, so the bindings are unit-tested. */
#include <ctype.h>
#include <curses.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ranks.h"
#include "view.h"

#define KEY_ESC 27
#define KEY_TAB '\t'

bool cf_parse_lr(const char *text, double *lr)
{
    char *end;
    while (isspace((unsigned char)*text)) text++;
    if (!*text) return false;
    errno = 0;
    double d = strtod(text, &end);
    if (end == text || errno) return false;
    while (isspace((unsigned char)*end)) end++;
    if (*end || !isfinite(d) || d < 0) return false;
    *lr = d;
    return true;
}

static bool run_over(const cf_view *v)
{
    return v->st.state == CF_RUN_DONE || v->st.state == CF_RUN_FAILED;
}

static int lr_prompt_key(cf_view *v, int key, cf_cmd *out)
{
    size_t n = strlen(v->input);
    if (key == KEY_ESC) {
        v->prompt = CF_PROMPT_NONE;
        cf_view_message(v, 0, "lr unchanged");
    } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
        double lr;
        v->prompt = CF_PROMPT_NONE;
        if (!cf_parse_lr(v->input, &lr)) {
            cf_view_message(v, 2, "invalid lr '%s': type a number >= 0 such as 0.01 or 1e-3", v->input);
            return 0;
        }
        cf_view_message(v, 0, "lr %g requested", lr);
        out[0] = (cf_cmd){CF_CMD_LR_SET, lr};
        return 1;
    } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (n) v->input[n - 1] = 0;
    } else if (key >= 0x20 && key < 0x7f && n + 1 < sizeof v->input) {
        v->input[n] = (char)key;
        v->input[n + 1] = 0;
    }
    return 0;
}

static int quit_prompt_key(cf_view *v, int key, cf_cmd *out)
{
    if (key == 'y' || key == 'Y' || key == 'n' || key == 'N') {
        bool snap = key == 'y' || key == 'Y';
        v->prompt = CF_PROMPT_NONE;
        v->stop_sent = true;
        cf_view_message(v, 0, snap ? "stopping after a snapshot..." : "stopping...");
        out[0] = (cf_cmd){CF_CMD_STOP, snap ? 1 : 0};
        return 1;
    }
    if (key == 'c' || key == 'C' || key == KEY_ESC || key == 'q') {
        v->prompt = CF_PROMPT_NONE;
        cf_view_message(v, 0, "quit cancelled");
    }
    return 0;
}

/* Scroll the layer table or the log (whichever has the focus; the table
 * when neither has it). */
static void scroll_by(cf_view *v, int lines)
{
    if (v->focus == CF_PANE_LOG) {
        v->log_scroll -= lines; /* down = towards the newest */
        int max = (int)(v->nlog < CF_VIEW_LOG ? v->nlog : CF_VIEW_LOG) - 1;
        if (v->log_scroll > max) v->log_scroll = max;
        if (v->log_scroll < 0) v->log_scroll = 0;
    } else {
        v->layer_scroll += lines;
        if (v->layer_scroll > v->nrows - 1) v->layer_scroll = v->nrows - 1;
        if (v->layer_scroll < 0) v->layer_scroll = 0;
    }
}

/* Focus the next (step 1) or previous (-1) pane on screen: the ranks
 * pane only in a run of several processes.  A zoomed view follows. */
static void focus_by(cf_view *v, int step)
{
    do v->focus = (v->focus + step + CF_NPANES) % CF_NPANES;
    while (v->focus == CF_PANE_RANKS && !cf_ranks_shown(&v->st));
    if (v->zoomed >= 0) v->zoomed = v->focus;
}

int cf_view_key(cf_view *v, int key, cf_cmd *out)
{
    if (v->prompt == CF_PROMPT_LR) return lr_prompt_key(v, key, out);
    if (v->prompt == CF_PROMPT_QUIT) return quit_prompt_key(v, key, out);
    if (v->help && key != KEY_RESIZE) { /* any key closes the help */
        v->help = false;
        return 0;
    }
    bool over = run_over(v);
    switch (key) {
    case 'q':
    case 'Q':
        if (over || v->readonly) v->quit = true;
        else if (v->stop_sent) cf_view_message(v, 0, "stopping: waiting for the trainer...");
        else {
            v->prompt = CF_PROMPT_QUIT;
            cf_view_message(v, 0, "snapshot before quitting? [y/n/c]");
        }
        return 0;
    case '?': v->help = true; return 0;
    case 'L':
        v->logy = !v->logy;
        cf_view_message(v, 0, "loss axis: %s", v->logy ? "log" : "linear");
        return 0;
    case 'z':
        v->zoom = (v->zoom + 1) % CF_NZOOM;
        cf_view_message(v, 0, "loss plot: %s", (const char *[]){"all iterations", "last 1000 iterations", "last 100 iterations"}[v->zoom]);
        return 0;
    case 'm':
        v->spark = (v->spark + 1) % CF_NSPARK;
        cf_view_message(v, 0, "sparklines: %s", cf_spark_name(v->spark));
        return 0;
    case KEY_TAB: focus_by(v, 1); return 0;
    case KEY_BTAB: focus_by(v, -1); return 0;
    case '\n': case '\r': case KEY_ENTER: v->zoomed = v->zoomed >= 0 ? -1 : v->focus; return 0;
    case KEY_ESC: v->zoomed = -1; return 0;
    case KEY_UP: scroll_by(v, -1); return 0;
    case KEY_DOWN: scroll_by(v, 1); return 0;
    case KEY_PPAGE: scroll_by(v, -10); return 0;
    case KEY_NPAGE: scroll_by(v, 10); return 0;
    case KEY_HOME: scroll_by(v, -100000); return 0;
    case KEY_END: scroll_by(v, 100000); return 0;
    case '[': { int f = v->focus; v->focus = CF_PANE_LOG; scroll_by(v, -1); v->focus = f; return 0; }
    case ']': { int f = v->focus; v->focus = CF_PANE_LOG; scroll_by(v, 1); v->focus = f; return 0; }
    default: break;
    }
    if (v->readonly) {
        if (key > 0 && key < 128 && strchr("p+=-_lst", key))
            cf_view_message(v, 1, "read-only: this view reads a run's files; keys that steer training do nothing");
        return 0;
    }
    if (over) {
        if (key > 0 && key < 128 && strchr("p+=-_lst", key)) cf_view_message(v, 0, "the run is over: press q to exit");
        return 0;
    }
    switch (key) {
    case 'p':
        cf_view_message(v, 0, v->st.state == CF_RUN_PAUSED ? "resume requested" : "pause requested");
        out[0] = (cf_cmd){CF_CMD_TOGGLE_PAUSE, 0};
        return 1;
    case '+': case '=':
        cf_view_message(v, 0, "lr x2 requested");
        out[0] = (cf_cmd){CF_CMD_LR_MUL, 2};
        return 1;
    case '-': case '_':
        cf_view_message(v, 0, "lr /2 requested");
        out[0] = (cf_cmd){CF_CMD_LR_MUL, 0.5};
        return 1;
    case 'l':
        v->prompt = CF_PROMPT_LR;
        v->input[0] = 0;
        return 0;
    case 's':
        cf_view_message(v, 0, "snapshot requested");
        out[0] = (cf_cmd){CF_CMD_SNAPSHOT, 0};
        return 1;
    case 't':
        if (!v->has_test) {
            cf_view_message(v, 1, "this recipe has no test net");
            return 0;
        }
        cf_view_message(v, 0, "test pass requested");
        out[0] = (cf_cmd){CF_CMD_TEST, 0};
        return 1;
    default: return 0;
    }
}
