#!/bin/sh
# tui_overhead.sh — what watching a run in the TUI costs: the same recipe
# trained for N iterations headless and with the TUI attached (under
# tmux, in a 100x30 window, CAFETUI_EXIT_WHEN_DONE=1), alternating
# headless/TUI K times so that a machine that gets busier or quieter
# affects both alike.  Prints images/s of each run and of each mode
# (the median of its runs) with the overhead of the TUI in percent; the
# same for the CPU time the whole process used (sampled from /proc), a
# figure that a busy machine disturbs far less than throughput, since
# waiting for a core costs no CPU time; and the share of it that the
# TUI's own thread took (drawing, keys, the run's files).  The rest of the
# TUI's cost is in the trainer's thread: the per-blob statistics it
# computes when the TUI asks (about 3 times a second).
#
# Throughput of a run, from its metrics.jsonl: images trained between the
# first and the last train line, divided by the elapsed time between
# them less the test passes that fell in between:
#   ips = (iter_last − iter_first) · batch / (Δelapsed − Σ test seconds)
#
# usage: bench/tui_overhead.sh [N [K]]   (from the build directory, or with
#        CAFETUI=path/to/cafetui)
# environment: RECIPE (default recipes/lenet_fashion.yaml when data/
#        holds Fashion-MNIST, else bench/lenet.yaml: LeNet on DummyData),
#        BATCH (default 64), THREADS (default: online cores).
set -eu

N=${1:-1000}
K=${2:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CAFETUI:-$(pwd)/cafetui}
[ -x "$BIN" ] || { echo "tui_overhead.sh: no cafetui at $BIN (run from the build directory or set CAFETUI)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tui_overhead.sh: tmux is needed" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cftuibench.XXXXXX")
SOCK=cftuibench-$$
cleanup() { tmux -L "$SOCK" kill-server >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT

if [ -z "${RECIPE:-}" ]; then
    if [ -d "$HERE/data/fashion_train_lmdb" ] && [ -d "$HERE/data/fashion_test_lmdb" ]; then RECIPE=recipes/lenet_fashion.yaml
    else RECIPE=bench/lenet.yaml; fi
fi
SHOWN=$RECIPE
# throughput comes from the train lines of the metrics: a recipe that
# writes none (no display) is run from a copy that asks for one every 100
if ! grep -qE '^[[:space:]]+display:' "$HERE/$RECIPE"; then
    awk '{ print } /^solver:/ { print "  display: 100" }' "$HERE/$RECIPE" >"$TMP/recipe.yaml"
    RECIPE=$TMP/recipe.yaml
fi
BATCH=${BATCH:-64}
THREADS=${THREADS:-$(getconf _NPROCESSORS_ONLN)}

# images/s of a run directory (see above)
ips()
{
    awk -v batch="$BATCH" '
        function num(key,   s) { s = $0; if (!match(s, "\"" key "\":[^,}]*")) return ""; s = substr(s, RSTART, RLENGTH); sub(/^[^:]*:/, "", s); return s + 0 }
        /"type":"train"/ { it = num("iter"); el = num("elapsed_s"); if (first == "") { first = it; e0 = el } last = it; e1 = el; tests_then = tests }
        /"type":"test"/ { if (first != "") tests += num("seconds") }
        END { if (last == first) { print "tui_overhead.sh: fewer than two train lines in " FILENAME > "/dev/stderr"; exit 1 } printf "%.1f\n", (last - first) * batch / (e1 - e0 - tests_then) }
    ' "$1/metrics.jsonl"
}

# CPU time (clock ticks) of a process and of its main thread, sampled
# until it exits (the last sample counts): "main all" into FILE.  In the
# TUI the main thread is the TUI's own (drawing, keys, the run's files);
# the trainer, its pool and the data prefetcher are the other threads.
ticks() { awk '{ print $14 + $15 }' "$1" 2>/dev/null; }
watch_cpu()
{
    main=0 all=0
    while kill -0 "$1" 2>/dev/null; do
        m=$(ticks "/proc/$1/task/$1/stat") a=$(ticks "/proc/$1/stat")
        [ -n "$m" ] && [ -n "$a" ] && main=$m all=$a
        sleep 0.2
    done
    echo "$main $all" >"$2"
}

run_headless()
{
    (cd "$HERE" && exec "$BIN" --headless "$RECIPE" --max-iter "$N" --threads "$THREADS" --run-dir "$1" --quiet >/dev/null 2>"$1.err") &
    pid=$!
    watch_cpu "$pid" "$1.cpu"
    wait "$pid" || { cat "$1.err" >&2; exit 1; }
}

run_tui()
{
    cat >"$TMP/tui.sh" <<EOF
cd "$HERE"
echo \$\$ >"$1.pid"
LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen-256color CAFETUI_EXIT_WHEN_DONE=1 exec "$BIN" "$RECIPE" --max-iter "$N" --threads "$THREADS" --run-dir "$1" 2>"$1.err"
EOF
    rm -f "$1.pid" "$1.rc"
    tmux -L "$SOCK" -f /dev/null new-session -d -s bench -x 100 -y 30 "sh $TMP/tui.sh; echo \$? >$1.rc.tmp; mv $1.rc.tmp $1.rc"
    while [ ! -s "$1.pid" ]; do sleep 0.05; done
    watch_cpu "$(cat "$1.pid")" "$1.cpu"
    while [ ! -f "$1.rc" ]; do sleep 0.05; done
    [ "$(cat "$1.rc")" = 0 ] || { cat "$1.err" >&2; exit 1; }
    grep -q 'Optimization done' "$1/train.log" || { echo "tui_overhead.sh: the TUI run did not finish" >&2; exit 1; }
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "recipe $SHOWN, $N iterations, batch $BATCH, $THREADS threads, $K alternations; $(uname -m), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in h.ips t.ips h.cpu t.cpu t.main; do : >"$TMP/$f"; done
for k in $(seq 1 "$K"); do
    run_headless "$TMP/h$k"
    h=$(ips "$TMP/h$k")
    run_tui "$TMP/t$k"
    t=$(ips "$TMP/t$k")
    read -r hm ha <"$TMP/h$k.cpu"
    read -r tm ta <"$TMP/t$k.cpu"
    echo "$h" >>"$TMP/h.ips"
    echo "$t" >>"$TMP/t.ips"
    echo "$ha" >>"$TMP/h.cpu"
    echo "$ta" >>"$TMP/t.cpu"
    echo "$tm $ta" >>"$TMP/t.main"
    printf 'round %d: headless %7.1f img/s %6d CPU ticks   TUI %7.1f img/s %6d CPU ticks (%d in the TUI thread)\n' \
        "$k" "$h" "$ha" "$t" "$ta" "$tm"
done
H=$(median <"$TMP/h.ips") T=$(median <"$TMP/t.ips")
HC=$(median <"$TMP/h.cpu") TC=$(median <"$TMP/t.cpu")
awk -v h="$H" -v t="$T" 'BEGIN { printf "median throughput: headless %.1f img/s, TUI %.1f img/s: TUI overhead %.2f%%\n", h, t, 100 * (h - t) / h }'
awk -v h="$HC" -v t="$TC" 'BEGIN { printf "median CPU time:   headless %.2f s, TUI %.2f s: TUI overhead %.2f%%\n", h / 100, t / 100, 100 * (t - h) / h }'
awk '{ m += $1; a += $2 } END { printf "the TUI thread:    %.2f%% of the TUI runs'"'"' CPU time\n", a ? 100 * m / a : 0 }' "$TMP/t.main"
