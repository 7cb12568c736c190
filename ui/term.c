/* term.c — see term.h. */
#include "term.h"

#include <curses.h>
#include <fcntl.h>
#include <langinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "draw.h"

static volatile sig_atomic_t screen_on;
static int saved_stderr = -1;
static SCREEN *screen;
/* the controlling terminal, when it is used instead of stdin/stdout, and
 * the process group that had the foreground before this one took it */
static int tty_fd = -1;
static pid_t tty_fg_before = -1;
static FILE *tty_in, *tty_out;
static const int fatal_signals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
#define NFATAL (sizeof fatal_signals / sizeof *fatal_signals)

bool cf_env_on(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0");
}

bool cf_term_ascii(void)
{
    return cf_env_on("CAFETUI_ASCII") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
}

void cf_term_restore(void)
{
    if (screen_on) {
        screen_on = 0;
        endwin();
        /* the foreground back to the launcher, which the shell waits on */
        if (tty_fd >= 0 && tty_fg_before > 0) tcsetpgrp(tty_fd, tty_fg_before);
        tty_fg_before = -1;
    }
    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

static void on_fatal(int sig)
{
    /* SA_RESETHAND has put the default action back: restore the screen,
     * then let the signal do what it would have done */
    cf_term_restore();
    raise(sig);
}

void cf_term_release_signals(void)
{
    for (size_t i = 0; i < NFATAL; i++) signal(fatal_signals[i], SIG_DFL);
}

bool cf_term_is_tty(void) { return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO); }

bool cf_term_ctty_ok(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0) return false;
    /* only from a launcher in the terminal's foreground: one started in
     * the background (mpirun ... &) leaves the terminal to the shell */
    pid_t fg = tcgetpgrp(fd);
    close(fd);
    return fg > 0 && (fg == getpgrp() || fg == getpgid(getppid()));
}

/* The controlling terminal, for a process whose stdin and stdout are
 * pipes (rank 0 under mpirun, which forwards them).  Its process group
 * is not the terminal's foreground one (the launcher's is), so reading
 * keys would stop it (SIGTTIN) and setting modes would too (SIGTTOU): it
 * takes the foreground, remembering whose it was.  The launcher then
 * stops reading the terminal (Open MPI's mpirun reads stdin only while
 * in the foreground), and Ctrl-C and window sizes come here. */
static bool open_ctty(void)
{
    tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty_fd < 0) return false;
    signal(SIGTTOU, SIG_IGN); /* tcsetpgrp and tcsetattr from the background */
    pid_t fg = tcgetpgrp(tty_fd);
    if (fg > 0 && fg != getpgrp()) {
        if (tcsetpgrp(tty_fd, getpgrp())) goto fail;
        tty_fg_before = fg;
    }
    int fd2 = dup(tty_fd);
    tty_in = fdopen(tty_fd, "r");
    tty_out = fd2 >= 0 ? fdopen(fd2, "w") : NULL;
    if (tty_in && tty_out) return true;
    if (fd2 >= 0 && !tty_out) close(fd2);
fail:
    if (tty_fg_before > 0) tcsetpgrp(tty_fd, tty_fg_before);
    tty_fg_before = -1;
    if (tty_in) fclose(tty_in); /* closes tty_fd */
    else close(tty_fd);
    if (tty_out) fclose(tty_out);
    tty_in = tty_out = NULL;
    tty_fd = -1;
    return false;
}

bool cf_term_start(cf_view *v)
{
    static bool hooked;
    if (!hooked) {
        atexit(cf_term_restore);
        hooked = true;
    }
    if (cf_term_is_tty()) screen = newterm(NULL, stdout, stdin);
    else if (open_ctty()) {
        screen = newterm(NULL, tty_out, tty_in);
        if (!screen && tty_fg_before > 0) {
            tcsetpgrp(tty_fd, tty_fg_before);
            tty_fg_before = -1;
        }
    } else screen = NULL;
    if (!screen) return false;
    set_term(screen);
    screen_on = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < NFATAL; i++) sigaction(fatal_signals[i], &sa, NULL);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    timeout(CF_TERM_TICK_MS);
    v->color = has_colors() && !getenv("NO_COLOR");
    if (v->color) {
        start_color();
        use_default_colors();
    }
    cf_draw_init(v->color, v->ascii);
    return true;
}

void cf_term_stderr_to(int fd)
{
    fflush(stderr);
    if (saved_stderr < 0) saved_stderr = dup(STDERR_FILENO);
    if (saved_stderr >= 0) dup2(fd, STDERR_FILENO);
}

void cf_term_draw(cf_view *v)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    cf_draw_frame(v, cols, rows);
    wnoutrefresh(stdscr);
    doupdate();
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int cf_term_key(void)
{
    static int quick_errors;
    timeout(CF_TERM_TICK_MS);
    double t0 = now_s();
    int ch = getch();
    if (ch == ERR && now_s() - t0 < CF_TERM_TICK_MS / 4000.0) {
        if (++quick_errors >= 20) return CF_TERM_LOST;
    } else quick_errors = 0;
    if (ch == KEY_RESIZE) clearok(curscr, TRUE); /* repaint everything at the new size */
    return ch;
}

int cf_term_key_now(void)
{
    timeout(0);
    int ch = getch();
    timeout(CF_TERM_TICK_MS);
    if (ch == KEY_RESIZE) clearok(curscr, TRUE);
    return ch;
}
