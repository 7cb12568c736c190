#!/bin/sh
# test_signals.sh — what the signals of cafetui(1)'s SIGNALS section do,
# headless and in the terminal view (under tmux), and that the terminal
# is given back every time, even after a fatal signal:
#
#   headless  SIGHUP: a snapshot, and training goes on;
#             SIGTERM: a snapshot and a stop, status 0;
#             SIGINT twice while the first stop waits (a long test pass):
#             the process ends at once, status 130, no snapshot;
#   view      SIGTERM: snapshot and stop, status 0; SIGINT twice: status
#             130; SIGSEGV: the default action (status 139); SIGHUP (the
#             tmux window killed): snapshot and stop, status 0 — each with
#             the terminal's modes (icanon, echo) restored afterwards.
#
# Every wait polls with a deadline.  Exit 77 (skipped) without tmux for
# the view part; the headless part runs anyway.
set -u
# The screens are UTF-8 ('—', braille): patterns match characters, not
# bytes, whatever locale the test was started in (CI starts with none).
export LC_ALL=C.UTF-8
SRC=${CF_SRCDIR:-${srcdir:-$(dirname "$0")/..}}
SRC=$(cd "$SRC" && pwd)
BUILD=${CF_BUILDDIR:-.}
BIN=$(cd "$BUILD" && pwd)/cafetui
TINY=$SRC/tests/fixtures/tui/tiny.yaml
LONG=$SRC/tests/fixtures/signals/long_test.yaml
[ -x "$BIN" ] || { echo "test_signals.sh: no program at $BIN"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cfsig.XXXXXX")
SOCK=cfsig-$$
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
pids=
cleanup()
{
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    T kill-server >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

# wait_for SECONDS COMMAND...: poll every 0.1 s; false at the deadline
wait_for()
{
    end=$(($(date +%s) + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
has() { grep -qE -- "$2" "$1"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
dead() { [ -n "$1" ] && ! kill -0 "$1" 2>/dev/null; }
nsnaps() { ls "$1"/*_iter_*.h5 2>/dev/null | wc -l; }
more_snaps() { [ "$(nsnaps "$1")" -gt "$2" ]; }
iters() { grep -c '^Iteration ' "$1"; }
iters_above() { [ "$(iters "$1")" -gt "$2" ]; }

# ---- headless ------------------------------------------------------------

# SIGHUP: a snapshot, and on; then SIGTERM: a snapshot and a stop.
"$BIN" --headless "$TINY" --threads 1 --run-dir "$TMP/hup" 2>"$TMP/hup.err" >/dev/null &
pid=$!
pids="$pids $pid"
if ! wait_for 30 has "$TMP/hup.err" '^Iteration 100 '; then
    bad "headless: the run did not start" "$(tail -n 3 "$TMP/hup.err")"
else
    kill -HUP $pid
    if wait_for 20 more_snaps "$TMP/hup" 0 && wait_for 10 has "$TMP/hup.err" '^SIGHUP: snapshot$'; then
        it=$(iters "$TMP/hup.err")
        if wait_for 20 iters_above "$TMP/hup.err" "$it" && alive $pid; then
            ok "headless SIGHUP: $(ls "$TMP/hup" | grep -m1 '_iter_') written, training goes on"
        else
            bad "headless SIGHUP: training did not go on" "$(tail -n 3 "$TMP/hup.err")"
        fi
    else
        bad "headless SIGHUP: no snapshot" "$(tail -n 3 "$TMP/hup.err")"
    fi
    n=$(nsnaps "$TMP/hup")
    kill -TERM $pid
    wait_for 30 dead $pid
    wait $pid
    rc=$?
    if [ $rc = 0 ] && has "$TMP/hup.err" '^SIGINT: snapshot and stop$' && has "$TMP/hup.err" '^Optimization stopped at iteration' &&
        [ "$(nsnaps "$TMP/hup")" -gt "$n" ]; then
        ok "headless SIGTERM: snapshot and stop, status 0"
    else
        bad "headless SIGTERM" "status $rc, $(nsnaps "$TMP/hup") snapshots: $(tail -n 3 "$TMP/hup.err")"
    fi
fi

# SIGINT twice while the stop waits for a test pass of a million iterations.
"$BIN" --headless "$LONG" --threads 1 --run-dir "$TMP/int2" 2>"$TMP/int2.err" >/dev/null &
pid=$!
pids="$pids $pid"
if ! wait_for 30 has "$TMP/int2.err" '^cafetui: run directory '; then
    bad "headless: the long run did not start" "$(tail -n 3 "$TMP/int2.err")"
else
    sleep 0.5
    kill -INT $pid
    wait_for 10 has "$TMP/int2.err" '^SIGINT: snapshot and stop$'
    kill -INT $pid
    if wait_for 20 dead $pid; then
        wait $pid
        rc=$?
        if [ $rc = 130 ] && has "$TMP/int2.err" '^SIGINT/SIGTERM again: stopping now, without waiting for the snapshot \(exit status 130\)$' &&
            has "$TMP/int2/train.log" 'again: stopping now' && [ "$(nsnaps "$TMP/int2")" = 0 ]; then
            ok "headless SIGINT twice: stops at once, status 130, said in train.log, no snapshot"
        else
            bad "headless SIGINT twice" "status $rc, $(nsnaps "$TMP/int2") snapshots: $(tail -n 3 "$TMP/int2.err")"
        fi
    else
        bad "headless SIGINT twice: still running 20 s after the second SIGINT" "$(tail -n 3 "$TMP/int2.err")"
    fi
fi

# ---- the terminal view ---------------------------------------------------

if ! command -v tmux >/dev/null 2>&1; then
    echo "test_signals.sh: the terminal view part skipped: tmux is not installed"
    echo "signals: $pass passed, $fail failed"
    [ $fail = 0 ] && exit 77
    exit 1
fi

# view NAME RECIPE: start the view in a tmux window of its own, in a
# shell that writes its exit status and the terminal's modes afterwards
# (to the screen and to NAME.exit), then waits so they can be read.
view()
{
    cat >"$TMP/$1.sh" <<EOF
ulimit -c 0
cd "$TMP"
LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen CAFETUI_EXIT_WHEN_DONE=0 "$BIN" --threads 1 --run-dir "$TMP/v-$1" "$2"
echo "CAFETUI_EXIT=\$?" | tee "$TMP/$1.exit"
echo "TTY: \$(stty -a | tr ' ;' '\n\n' | grep -xE -- '-?(icanon|echo)' | tr '\n' ' ')"
sleep 60
EOF
    T new-session -d -s "$1" -x 100 -y 30 "sh $TMP/$1.sh"
}
screen_has() { T capture-pane -p -t "$1" | grep -qE -- "$2"; }
view_pid() { pgrep -f -- "--run-dir $TMP/v-$1( |\$)" | head -n 1; }
# restored NAME STATUS: the view ended with STATUS and gave the terminal back
restored()
{
    wait_for 20 screen_has "$1" '^TTY: ' || { echo "no exit within 20 s"; return 1; }
    screen_has "$1" "^CAFETUI_EXIT=$2\$" || { T capture-pane -p -t "$1" | grep CAFETUI_EXIT; return 1; }
    T capture-pane -p -t "$1" | grep '^TTY: ' | grep -qE '(^| )icanon( |$)' &&
        T capture-pane -p -t "$1" | grep '^TTY: ' | grep -qE '(^| )echo( |$)' ||
        { T capture-pane -p -t "$1" | grep '^TTY: '; return 1; }
}
started() { wait_for 30 screen_has "$1" "$2"; }

view term "$TINY"
if started term 'running.*iter [1-9][0-9]*/'; then
    kill -TERM "$(view_pid term)"
    if why=$(restored term 0) && [ "$(nsnaps "$TMP/v-term")" -ge 1 ]; then ok "view SIGTERM: snapshot and stop, status 0, terminal restored"
    else bad "view SIGTERM" "$why; $(nsnaps "$TMP/v-term") snapshots"; fi
else
    bad "view SIGTERM: the view did not start" "$(T capture-pane -p -t term | head -n 3)"
fi

view int2 "$LONG"
if started int2 'testing'; then
    p=$(view_pid int2)
    kill -INT "$p"
    wait_for 10 has "$TMP/v-int2/train.log" 'SIGINT: snapshot and stop'
    kill -INT "$p"
    if why=$(restored int2 130) && has "$TMP/v-int2/train.log" 'SIGINT again: stopping now'; then
        ok "view SIGINT twice: stops at once, status 130, terminal restored"
    else
        bad "view SIGINT twice" "$why; $(tail -n 2 "$TMP/v-int2/train.log")"
    fi
else
    bad "view SIGINT twice: the view did not start testing" "$(T capture-pane -p -t int2 | head -n 3)"
fi

view segv "$TINY"
if started segv 'running.*iter [1-9][0-9]*/'; then
    kill -SEGV "$(view_pid segv)"
    if why=$(restored segv 139); then ok "view SIGSEGV: status 139 (the signal's own), terminal restored"
    else bad "view SIGSEGV" "$why"; fi
else
    bad "view SIGSEGV: the view did not start" "$(T capture-pane -p -t segv | head -n 3)"
fi

# SIGHUP: the terminal goes away (tmux kills the window); nothing left to
# look at but the run directory and the exit status the shell wrote.
# Whichever comes first, the signal or keys failing to read, says so.
hup_said() { has "$TMP/v-hup/train.log" '^(SIGHUP: snapshot and stop|terminal lost: (snapshot and stop|stopping))$'; }
view hup "$TINY"
if started hup 'running.*iter [1-9][0-9]*/'; then
    p=$(view_pid hup)
    T kill-session -t hup
    if wait_for 30 dead "$p" && wait_for 10 test -s "$TMP/hup.exit"; then
        :
    fi
    if [ "$(cat "$TMP/hup.exit" 2>/dev/null)" = "CAFETUI_EXIT=0" ] && hup_said &&
        [ "$(nsnaps "$TMP/v-hup")" -ge 1 ]; then
        ok "view SIGHUP (window closed): snapshot and stop, status 0"
    elif dead "$p" && hup_said && [ "$(nsnaps "$TMP/v-hup")" -ge 1 ]; then
        # the shell that would write the status went with the window
        ok "view SIGHUP (window closed): snapshot and stop"
    else
        bad "view SIGHUP" "pid $p; $(cat "$TMP/hup.exit" 2>/dev/null); $(grep -E "SIGHUP|terminal lost" "$TMP/v-hup/train.log"); $(nsnaps "$TMP/v-hup") snapshots; $(tail -n 2 "$TMP/v-hup/train.log")"
    fi
else
    bad "view SIGHUP: the view did not start" "$(T capture-pane -p -t hup | head -n 3)"
fi

echo "signals: $pass passed, $fail failed"
[ $fail = 0 ]
