#!/bin/bash
# soak.sh — does a long run leak?  Two parts:
#
#  1. headless: a tiny MLP on DummyData (bench/soak.yaml) trained for
#     ITERS iterations (default 1,000,000) with a test pass every 10,000
#     iterations and a snapshot every 100,000, sampling the process's
#     resident memory (VmRSS in /proc/PID/status) and open file
#     descriptors (/proc/PID/fd) every EVERY seconds (default 5);
#  2. the terminal view: the same recipe in the TUI under tmux (120×40)
#     for TUI_SECONDS (default 600), sampled the same way, with a key
#     every sample (p twice: pause and resume; t: test now; + and -: lr
#     doubled and halved) and the screen captured to check that it still
#     answers: the pause shows "paused" within 2 s, and the iteration
#     shown keeps moving.
# Prints the samples and a summary per part: RSS and fds at the first
# sample, at the last, the largest, and the growth from the first sample
# taken after a warm-up (the first 10% of the samples) to the last.
#
# usage: bench/soak.sh [ITERS [TUI_SECONDS]]   (from the build directory,
#        or with CAFETUI=path/to/cafetui); EVERY=seconds between samples;
#        PARTS="headless tui" (default both).
set -u
ITERS=${1:-1000000}
TUI_SECONDS=${2:-600}
EVERY=${EVERY:-5}
PARTS=" ${PARTS:-headless tui} "
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CAFETUI:-$(pwd)/cafetui}
[ -x "$BIN" ] || { echo "soak.sh: no cafetui at $BIN (run from the build directory or set CAFETUI)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cfsoak.XXXXXX")
SOCK=cfsoak-$$
cleanup() { tmux -L "$SOCK" kill-server >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT

rss_kb() { awk "/^VmRSS:/ {print \$2}" "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
last_iter() { grep -o '"iter":[0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d: -f2; }

# summary FILE LABEL: FILE holds "seconds iter rss_kb fds" lines
summary() {
    awk -v label="$2" '
        { t[NR] = $1; it[NR] = $2; r[NR] = $3; f[NR] = $4
          if ($3 > rmax) rmax = $3; if ($4 > fmax) fmax = $4 }
        END {
            if (NR == 0) { print label ": no samples"; exit }
            w = int(NR / 10) + 1
            printf "%s: %d samples over %d s, iterations %d -> %d\n", label, NR, t[NR], it[1], it[NR]
            printf "  RSS kB: first %d, after warm-up (sample %d) %d, last %d, max %d; growth after warm-up %+d kB\n",
                r[1], w, r[w], r[NR], rmax, r[NR] - r[w]
            printf "  fds:    first %d, after warm-up %d, last %d, max %d; growth after warm-up %+d\n",
                f[1], f[w], f[NR], fmax, f[NR] - f[w]
        }' "$1"
}

if [[ "$PARTS" == *" headless "* ]]; then
    echo "== headless: $ITERS iterations of bench/soak.yaml, a sample every $EVERY s"
    t0=$(date +%s)
    "$BIN" --headless "$HERE/bench/soak.yaml" --max-iter "$ITERS" --run-dir "$TMP/headless" --threads 1 --quiet \
        > "$TMP/headless.out" 2>&1 &
    pid=$!
    sleep 1
    : > "$TMP/headless.samples"
    while kill -0 $pid 2>/dev/null; do
        r=$(rss_kb $pid); f=$(nfds $pid)
        [ -n "$r" ] && echo "$(( $(date +%s) - t0 )) $(last_iter "$TMP/headless/metrics.jsonl") $r $f" | tee -a "$TMP/headless.samples"
        sleep "$EVERY"
    done
    wait $pid
    rc=$?
    t1=$(date +%s)
    echo "exit status $rc after $((t1 - t0)) s; $(grep -c '"type":"test"' "$TMP/headless/metrics.jsonl") test passes, $(ls "$TMP/headless"/*.h5 2>/dev/null | wc -l) snapshots; last line: $(tail -n 1 "$TMP/headless.out")"
    summary "$TMP/headless.samples" headless
fi

if [[ "$PARTS" == *" tui "* ]]; then
    command -v tmux >/dev/null || { echo "soak.sh: tmux is needed for the TUI part" >&2; exit 1; }
    echo "== TUI: bench/soak.yaml in the terminal view under tmux for $TUI_SECONDS s, a sample (and keys) every $EVERY s"
    tmux -L "$SOCK" new-session -d -x 120 -y 40 \
        "'$BIN' '$HERE/bench/soak.yaml' --max-iter 1000000000 --run-dir '$TMP/tui' --threads 1 2> '$TMP/tui.err'"
    sleep 2
    pid=$(pgrep -n -f "$TMP/tui" | head -n 1)
    [ -n "$pid" ] || { echo "soak.sh: the TUI did not start: $(cat "$TMP/tui.err")"; exit 1; }
    t0=$(date +%s)
    : > "$TMP/tui.samples"
    paused_ok=0; paused_late=0; moving_ok=0; stuck=0; prev=-1; k=0
    while [ $(( $(date +%s) - t0 )) -lt "$TUI_SECONDS" ] && kill -0 "$pid" 2>/dev/null; do
        r=$(rss_kb "$pid"); f=$(nfds "$pid"); it=$(last_iter "$TMP/tui/metrics.jsonl")
        echo "$(( $(date +%s) - t0 )) ${it:-0} $r $f" | tee -a "$TMP/tui.samples"
        # responsiveness: pause, see it on screen, resume
        tmux -L "$SOCK" send-keys p
        seen=0
        for w in 1 2 3 4 5 6 7 8 9 10; do
            sleep 0.2
            if tmux -L "$SOCK" capture-pane -p | grep -qi paused; then seen=1; break; fi
        done
        [ $seen = 1 ] && paused_ok=$((paused_ok + 1)) || paused_late=$((paused_late + 1))
        tmux -L "$SOCK" send-keys p
        case $((k % 3)) in 0) tmux -L "$SOCK" send-keys t ;; 1) tmux -L "$SOCK" send-keys + ;; 2) tmux -L "$SOCK" send-keys - ;; esac
        k=$((k + 1))
        if [ "${it:-0}" -gt "$prev" ]; then moving_ok=$((moving_ok + 1)); else stuck=$((stuck + 1)); fi
        prev=${it:-0}
        sleep "$EVERY"
    done
    tmux -L "$SOCK" capture-pane -p > "$TMP/tui.screen"
    tmux -L "$SOCK" send-keys q
    sleep 1
    tmux -L "$SOCK" send-keys n 2>/dev/null
    echo "pause shown within 2 s: $paused_ok of $((paused_ok + paused_late)) tries; iteration advanced between samples: $moving_ok of $((moving_ok + stuck))"
    summary "$TMP/tui.samples" TUI
    echo "last screen:"; cat "$TMP/tui.screen"
fi
