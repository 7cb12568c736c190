#!/bin/sh
# run_all.sh — every benchmark of BENCHMARKS.md in one run on this
# machine, printed as one table.
#
#   bench/run_all.sh [BUILD_DIR]      (default: the current directory)
#
# For LeNet (batch 64) and CIFAR-10 quick (batch 100), with 1 and 2
# threads: cafetui with oneDNN (CAFETUI_DNNL=1) and without it (the
# OpenBLAS path, CAFETUI_DNNL=0), and PyTorch from Debian's python3-torch
# (bench/pytorch_*.py).  Each configuration runs in a process of its own
# (its peak RSS is its own), ROUNDS times (default 3), the rounds
# interleaved so that a busy spell on a shared machine hits every
# configuration alike; the table keeps each configuration's fastest round.
# Environment: ROUNDS, ITERS (training iterations per measurement,
# default 20), RUNS (measurements per process, default 3), PYTHON (the
# interpreter that has Debian's torch, default /usr/bin/python3), BASE (a
# build directory of an older cafetui with bench/bench_nets built, for
# "cafetui before" rows; bench_nets.c builds against older trees too).
# PyTorch runs with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to the
# thread count, so that its BLAS calls do not bring their own threads.
#
# PyTorch is installed with apt-get when it is missing and this runs as
# root; otherwise its rows are skipped with a message.  BVLC Caffe has no
# package in this Debian release (checked with apt-cache policy below).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=$(cd "${1:-.}" && pwd)
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-20}
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
BASE=${BASE:-}
out="$build/bench/results-$(date +%Y%m%d-%H%M%S).txt"   # the raw RESULT lines, kept

make -s -C "$build" bench/bench_nets >/dev/null 2>"$out.make" ||
    { cat "$out.make" >&2; echo "run_all.sh: cannot build bench/bench_nets in $build" >&2; exit 1; }
rm -f "$out.make"
: >"$out"

have_torch=no
if "$PYTHON" -c 'import torch' 2>/dev/null; then
    have_torch=yes
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "PyTorch is not installed: installing Debian's python3-torch (apt-get install -y python3-torch) ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch >/dev/null 2>&1
    "$PYTHON" -c 'import torch' 2>/dev/null && have_torch=yes
fi
[ $have_torch = yes ] || echo "PyTorch rows skipped: $PYTHON cannot import torch (install Debian's python3-torch)" >&2

if apt-cache policy caffe-cpu 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    caffe_note="caffe-cpu is installable here but not benchmarked by this script"
else
    caffe_note="BVLC Caffe: no caffe-cpu package in this Debian release (apt-cache policy caffe-cpu: none), not benchmarked"
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    for net in lenet cifar10_quick; do
        for t in 1 2; do
            for d in 1 0; do
                CAFETUI_DNNL=$d "$build/bench/bench_nets" "$src/bench/$net.yaml" --threads $t --iters "$ITERS" \
                    --runs "$RUNS" | grep '^RESULT' >>"$out"
            done
            if [ -n "$BASE" ]; then
                "$BASE/bench/bench_nets" "$src/bench/$net.yaml" --threads $t --iters "$ITERS" --runs "$RUNS" |
                    grep '^RESULT' | sed 's/impl=cafetui /impl=cafetui-before /' >>"$out"
            fi
            if [ $have_torch = yes ]; then
                (cd "$here" && OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
                    "$PYTHON" "pytorch_$net.py" --threads $t --iters "$ITERS" --runs "$RUNS") | grep '^RESULT' >>"$out"
            fi
        done
    done
    echo "round $round of $ROUNDS done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done

# One row per configuration (its fastest round), then cafetui over PyTorch.
awk '
function field(name,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] } return "" }
{
    impl = field("impl"); if (impl == "cafetui") impl = field("dnnl") == 1 ? "cafetui oneDNN" : "cafetui OpenBLAS"
    key = field("net") SUBSEP field("threads") SUBSEP impl
    ms = field("train_ms") + 0
    # sgemm peak: the best any round of this implementation and thread
    # count measured (a busy spell during one sgemm must not flatter it)
    sk = (impl ~ /^pytorch/ ? "pytorch" : "cafetui") SUBSEP field("threads")
    if (field("sgemm_gflops") + 0 > peak[sk]) peak[sk] = field("sgemm_gflops") + 0
    if (!(key in best) || ms < best[key]) {
        best[key] = ms
        gf[key] = field("gflops") + 0
        pk_of[key] = sk
        row[key] = sprintf("%-14s %-17s %3s %9.2f %9.2f %8.1f", field("net"), impl, field("threads"), ms,
                           field("train_cpu_ms"), field("gflops"))
        tail[key] = sprintf("%8.1f %9.3f %9.2f", field("rss_mb"), field("infer1_ms"), field("inferB_ms"))
        order[key] = NR
    }
    nets[field("net")] = 1
}
END {
    printf "%-14s %-17s %3s %9s %9s %8s %8s %8s %8s %9s %9s\n", "net", "implementation", "thr", "ms/iter", "cpu ms",
           "GFLOP/s", "of sgemm", "sgemm", "RSS MB", "infer 1", "infer B"
    n = 0
    for (k in order) keys[++n] = k
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
    for (i = 1; i <= n; i++) {
        k = keys[i]; pp = peak[pk_of[k]]
        printf "%s %7.0f%% %8.1f %s\n", row[k], (pp > 0 ? 100 * gf[k] / pp : 0), pp, tail[k]
    }
    print ""
    for (net in nets) for (t = 1; t <= 2; t++) {
        pk = ""
        for (k in best) { split(k, p, SUBSEP); if (p[1] == net && p[2] == t && p[3] ~ /^pytorch/) pk = k }
        if (pk == "") continue
        for (k in best) {
            split(k, p, SUBSEP)
            if (p[1] == net && p[2] == t && p[3] ~ /^cafetui/)
                printf "%s, %d thread(s): %s / PyTorch = %.2f\n", net, t, p[3], best[k] / best[pk]
        }
    }
}' "$out"
echo
echo "ms/iter: training iteration (forward, backward, SGD momentum update), best of $RUNS means over $ITERS iterations, fastest of $ROUNDS rounds"
echo "cpu ms: process CPU time per iteration in that measurement; GFLOP/s: conv+ip FLOPs / ms/iter; of sgemm: that over sgemm"
echo "sgemm: 1024^3 GFLOP/s with as many threads (OpenBLAS; torch.mm for PyTorch), the best of every round's measurement"
echo "RSS MB: peak resident memory of the training process; infer 1 / infer B: forward ms, batch 1 / training batch"
echo "$caffe_note"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw results: $out"
