#!/bin/sh
# test_view.sh — `cafetui view` on a real run directory: a short headless
# run of the TUI fixture, then
#   1. the text summary (no terminal) names its final loss, its test
#      results, the best accuracy and how the run ended;
#   2. the panes under tmux (80x24) show the final loss, a test point and
#      the end of the run, and refuse to steer it;
#   3. a view of a run still being written follows it: lines appended to
#      metrics.jsonl (one in two pieces, and one malformed) and to
#      train.log appear in the panes and the status line;
#   4. a run of two processes (tests/fixtures/tui/mpi2_run, from
#      `mpirun -np 2 cafetui --headless tiny.yaml`): the ranks pane shows
#      the last train line's reduction time, its share of the step and each
#      rank's images/s (a one-process run has no such pane), zoomed with
#      bars, following a line of three ranks; the summary prints them.
# Every wait polls with a deadline; no fixed sleeps.  Exit 77 (skipped)
# when tmux is not installed.
set -u
# The screens are UTF-8 ('—', braille): patterns match characters, not
# bytes, whatever locale the test was started in (CI starts with none).
export LC_ALL=C.UTF-8

if ! command -v tmux >/dev/null 2>&1; then
    echo "test_view.sh: SKIP: tmux is not installed (apt-get install tmux)"
    exit 77
fi

SRC=${CF_SRCDIR:-${srcdir:-$(dirname "$0")/..}}
BUILD=${CF_BUILDDIR:-.}
BIN=$(cd "$BUILD" && pwd)/cafetui
RECIPE=$(cd "$SRC" && pwd)/tests/fixtures/tui/tiny.yaml
[ -x "$BIN" ] || { echo "test_view.sh: FAIL: no program at $BIN"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cfview.XXXXXX")
SOCK=cfview-$$
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() { T kill-server >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
START=$(date +%s)

fail()
{
    echo "test_view.sh: FAIL: $*"
    echo "---- screen ----"
    T capture-pane -p -t cfview 2>/dev/null
    exit 1
}
pass() { echo "ok: $*"; }
cap() { T capture-pane -p -t cfview; }
screen_has() { cap | grep -qE -- "$1"; }
status_has() { cap | sed -n 1p | grep -qE -- "$1"; }
wait_until()
{
    what=$1 limit=$2
    shift 2
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || fail "$what (waited ${limit}s)"
        sleep 0.1
    done
}
# a number as the panes print it (ui/fmt.c: three significant digits)
fmt() { awk -v x="$1" 'BEGIN { a = x < 0 ? -x : x; if (a != 0 && a < 0.01) printf "%.2e", x; else printf "%.3g", x }'; }
# a key's value in the last metrics line of a type
last() { grep "\"type\":\"$1\"" "$2" | tail -1 | sed -n "s/.*\"$3\":\([^,}]*\).*/\1/p"; }
# the view of RUN_DIR in an 80x24 tmux window
view()
{
    T kill-server >/dev/null 2>&1
    SOCK=cfview-$$-$1 # a fresh server: one that is still exiting refuses new sessions
    SOCK=$(echo "$SOCK" | tr -c 'a-zA-Z0-9\n-' _)
    printf '%s\n' "LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen \"$BIN\" view \"$1\"" 'echo "VIEW_EXIT=$?"' 'sleep 60' >"$TMP/view.sh"
    T new-session -d -s cfview -x 80 -y 24 "sh $TMP/view.sh" || fail "tmux cannot start a session"
}

# 0. a short run to look at: 500 iterations, loss every 100, tests at 0 and 500
"$BIN" --headless "$RECIPE" --max-iter 500 --threads 1 --run-dir "$TMP/run" --quiet >/dev/null 2>"$TMP/run.err" ||
    { cat "$TMP/run.err"; fail "the headless run failed"; }
M=$TMP/run/metrics.jsonl
smoothed=$(last train "$M" smoothed_loss)
acc=$(last test "$M" accuracy)
[ -n "$smoothed" ] && [ -n "$acc" ] || fail "no train or test line in $M"

# 1. without a terminal: the summary
"$BIN" view "$TMP/run" >"$TMP/summary" 2>&1 </dev/null || fail "view (summary) exit status $?: $(cat "$TMP/summary")"
grep -q "^run $TMP/run: $(wc -l <"$M") metrics lines$" "$TMP/summary" || fail "summary header: $(head -1 "$TMP/summary")"
grep -q "^last train: iter 400, loss = .*, smoothed_loss = $(awk -v x="$smoothed" 'BEGIN { printf "%g", x }')," "$TMP/summary" ||
    fail "summary: last train line: $(grep 'last train' "$TMP/summary")"
grep -q "^test iter 0 (net 0): accuracy = " "$TMP/summary" && grep -q "^test iter 500 (net 0): accuracy = $(awk -v x="$acc" 'BEGIN { printf "%g", x }'), loss = " "$TMP/summary" ||
    fail "summary: test results: $(grep '^test' "$TMP/summary")"
grep -q "^best accuracy = .* at iter " "$TMP/summary" || fail "summary: no best accuracy"
grep -q "^the run finished at iteration 500$" "$TMP/summary" || fail "summary: how the run ended: $(tail -1 "$TMP/summary")"
pass "summary: $(grep -c '^test' "$TMP/summary") test results, final smoothed loss $smoothed, the end of the run"

# 2. the panes of the finished run
view "$TMP/run"
wait_until "the view's status line" 5 status_has '^ view . run done'
status_has 'iter 500/500' || fail "status line: $(cap | sed -n 1p)"
wait_until "the final loss in the loss pane" 5 screen_has "^─ loss .*smoothed $(fmt "$smoothed") "
screen_has "^─ loss .* test [0-9]" || fail "no test loss in the loss pane"
screen_has "─ accuracy ─ (accuracy )?$(fmt "$acc") ◆" || fail "the last test point is not in the accuracy pane"
screen_has 'Optimization done at iteration 500' || fail "train.log is not in the log pane"
screen_has 'not recorded in metrics' || fail "the layers pane does not say it has nothing to show"
screen_has '─ ranks ' && fail "a ranks pane for a run of one process"
T send-keys -t cfview p
wait_until "p refused as read-only" 5 screen_has '^read-only: '
T send-keys -t cfview q
wait_until "q to exit at once" 5 screen_has '^VIEW_EXIT=0$'
pass "panes: smoothed $(fmt "$smoothed"), accuracy $(fmt "$acc"), read-only, q exits"

# 3. a run still being written: its first lines now, more later
mkdir "$TMP/live"
head -n 3 "$M" >"$TMP/live/metrics.jsonl"
grep -v '^Optimization' "$TMP/run/train.log" >"$TMP/live/train.log"
L=$TMP/live/metrics.jsonl
view "$TMP/live"
wait_until "a view that follows" 5 status_has '^ view . following'
status_has 'bad line' && fail "bad lines in a good file"
# a train line in two pieces: nothing until its newline
printf '{"type":"train","iter":9000,"loss":0.00123,"smoothed_loss":0.00123,' >>"$L"
sleep 0.6 # more than two polls: the piece has been read and must be held back
status_has 'iter 9000' && fail "a partial line was taken"
status_has 'bad line' && fail "a partial line was counted as bad"
printf '"lr":0.0002,"images_per_s":4321,"elapsed_s":12.5}\n' >>"$L"
wait_until "the completed line followed" 5 status_has 'iter 9000/500 .*4.32k img/s'
wait_until "its loss in the loss pane" 5 screen_has '^─ loss .*smoothed 1.23e-03 '
printf '{"type":"test","iter":9000,"net":0,"outputs":{"accuracy":0.777,"loss":0.5},"loss":0.5,"seconds":0.1}\n' >>"$L"
wait_until "a new test point" 5 screen_has '─ accuracy ─ (accuracy )?0.777 ◆'
printf '{"type":"train","iter":9100,"loss":\n' >>"$L"
wait_until "a malformed line counted in the status line" 5 status_has '1 bad line skipped'
echo "Optimization stopped at iteration 9100." >>"$TMP/live/train.log"
wait_until "the end of the run from train.log" 5 status_has '^ view . run stopped'
T send-keys -t cfview q
wait_until "q to exit" 5 screen_has '^VIEW_EXIT=0$'
pass "follow: partial line held, new train and test lines shown, bad line counted, end seen"

# 4. two processes: the ranks pane (between log and memory at 80x24)
cp -R "$SRC/tests/fixtures/tui/mpi2_run" "$TMP/mpi2" && chmod -R u+w "$TMP/mpi2"
P=$TMP/mpi2/metrics.jsonl
"$BIN" view "$TMP/mpi2" >"$TMP/summary2" 2>&1 </dev/null || fail "view (summary) of the 2-rank run: $(cat "$TMP/summary2")"
grep -q '^2 ranks: communicating 53.0% of the time (2.55 of 4.81 ms per iteration); images/s per rank while computing: 28856, 33933$' \
    "$TMP/summary2" || fail "summary: the ranks line: $(grep ranks "$TMP/summary2")"
view "$TMP/mpi2"
wait_until "the 2-rank run viewed" 5 status_has '^ view . run done'
wait_until "the ranks pane" 5 screen_has '─┬─ ranks ─ 2 ─+┬─ memory '
# the figures of the last train line (iter 500): comm_s 0.00255, step_s 0.00481, ranks 28856 and 33933 img/s
screen_has '│ comm  2.55 ms 53.0%   │' || fail "the reduction's time and share in the ranks pane"
screen_has '│ step        4.81 ms   │' || fail "the step time in the ranks pane"
screen_has '│ r0      28.9k img/s   │' && screen_has '│ r1      33.9k img/s   │' || fail "each rank's images/s in the ranks pane"
# Tab from the loss pane: accuracy, layers, log, ranks; Enter zooms it: bars against the fastest rank
T send-keys -t cfview Tab Tab Tab Tab Enter
wait_until "the ranks pane zoomed, with bars" 5 screen_has '^ r1      33.9k img/s █{40}$'
screen_has '^ r0      28.9k img/s █{34}$' || fail "rank 0's bar: 34 of the fastest's 40 cells"
T send-keys -t cfview Escape
# a third rank appears with the next line (a run directory used again)
printf '%s\n' '{"type":"train","iter":600,"loss":0.02,"smoothed_loss":0.02,"lr":0.0002,"images_per_s":9000,"elapsed_s":3,"ranks":3,"comm_s":0.0123,"step_s":0.05,"comm_frac":0.246,"rank0_images_per_s":3000,"rank1_images_per_s":3100,"rank2_images_per_s":1500}' >>"$P"
wait_until "three ranks followed" 5 screen_has '─ ranks ─ 3 '
screen_has '│ comm  12.3 ms 24.6%   │' && screen_has '│ r2      1.50k img/s   │' || fail "the third rank's line"
# and a run of one process after it: the pane goes
printf '%s\n' '{"type":"train","iter":700,"loss":0.02,"smoothed_loss":0.02,"lr":0.0002,"images_per_s":9000,"elapsed_s":4}' >>"$P"
wait_until "the ranks pane gone with a one-process line" 5 sh -c "! tmux -L '$SOCK' -f /dev/null capture-pane -p -t cfview | grep -q '─ ranks '"
T send-keys -t cfview q
wait_until "q to exit" 5 screen_has '^VIEW_EXIT=0$'
pass "ranks: the reduction 2.55 ms (53.0%), r0 28.9k and r1 33.9k img/s, bars when zoomed, 3 ranks followed, gone for 1"
echo "test_view.sh: PASS in $(($(date +%s) - START)) s"
