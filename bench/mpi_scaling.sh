#!/bin/sh
# mpi_scaling.sh — data-parallel scaling on this machine: LeNet and
# CIFAR-10 quick trained by 1 process and by 2 processes under mpirun,
# one thread each, and a model of more ranks and slower links built from
# what was measured.  Results and the written model: BENCHMARKS.md,
# "Several processes (MPI)".
#
#   bench/mpi_scaling.sh [BUILD_DIR]     (default: the current directory)
#
# Needs a build with MPI (./configure finding libopenmpi-dev) and mpicc.
# LeNet reads the Fashion-MNIST LMDB when data/fashion_train_lmdb exists
# (`make data`), else DummyData (bench/lenet.yaml); CIFAR-10 quick uses
# DummyData (bench/cifar10_quick.yaml).  Each rank keeps the recipe's
# batch (weak scaling: 2 ranks train on twice the images per iteration),
# so images/s should double when communication costs nothing.
#
# Configurations: 1 rank; two independent 1-rank runs at the same time
# (no MPI: what this machine gives two processes, the ceiling for 2
# ranks); 2 ranks with the default 1 MB gradient buckets (started during
# the backward pass); 2 ranks with one bucket holding every gradient
# (CAFETUI_BUCKET_KB huge: one all-reduce after the backward pass,
# nothing overlapped).  Each runs ROUNDS times (default 3)
# interleaved with the others, and the fastest round is kept.  images/s
# is taken from the run's metrics between iteration 10 and the last;
# the communication share is the trainer's own (comm_frac: seconds in the
# control broadcast, starting bucket sums during backward and waiting for
# them at the end, over all seconds of the iterations).
#
# Then MPI_Allreduce alone (bench/mpi_allreduce.c) on 2 ranks, for the
# two nets' gradient sizes and a range of sizes to fit a latency α and a
# bandwidth β to, and the model table.
# Environment: ROUNDS, ITERS_LENET (default 300), ITERS_CIFAR (default 80).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=$(cd "${1:-.}" && pwd)
BIN=$build/cafetui
ROUNDS=${ROUNDS:-3}
ITERS_LENET=${ITERS_LENET:-300}
ITERS_CIFAR=${ITERS_CIFAR:-80}
grep -q '^#define HAVE_MPI 1' "$build/config.h" 2>/dev/null ||
    { echo "mpi_scaling.sh: $build is not built with MPI (install libopenmpi-dev openmpi-bin, re-run ./configure)" >&2; exit 1; }
command -v mpicc >/dev/null || { echo "mpi_scaling.sh: mpicc not found (apt-get install libopenmpi-dev)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "mpi_scaling.sh: no $BIN (run make first)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# --bind-to none: on a machine shared with other work, a rank pinned to a
# busy core cannot move to the idle one (on a dedicated node, binding is
# better: drop it there).
MPIRUN="mpirun --oversubscribe --mca btl self,vader --bind-to none"
tmp=$(mktemp -d /tmp/cafetui-mpi-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# A recipe for timing: no tests, no snapshots, a train line every 5 iterations.
prep() { # in out
    sed -e '/^  *\(test_iter\|test_interval\|display\|snapshot\|max_iter\):/d' \
        -e "s#source: data/#source: $src/data/#" "$1" > "$2"
    printf '  display: 5\n  snapshot: 0\n  snapshot_after_train: false\n' >> "$2"
}
if [ -d "$src/data/fashion_train_lmdb" ]; then
    prep "$src/recipes/lenet_fashion.yaml" "$tmp/lenet.yaml"; lenet_data="Fashion-MNIST LMDB"
else
    prep "$src/bench/lenet.yaml" "$tmp/lenet.yaml"; lenet_data="DummyData"
fi
prep "$src/bench/cifar10_quick.yaml" "$tmp/cifar.yaml"

# field of a metrics line
field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }

# images/s of a run directory between iteration 10 and its last train line
# (batch B, R ranks), then the last line's communication figures:
# "ips comm_frac comm_ms step_ms"
rate() { # dir B R
    grep '"type":"train"' "$1/metrics.jsonl" | awk '
        { it = $0; sub(/.*"iter":/, "", it); sub(/,.*/, "", it); it += 0 }
        it >= 10 && !first { first = $0 } { last = $0 } END { print first; print last }' > "$tmp/two"
    i0=$(sed -n 1p "$tmp/two" | field iter); t0=$(sed -n 1p "$tmp/two" | field elapsed_s)
    i1=$(sed -n 2p "$tmp/two" | field iter); t1=$(sed -n 2p "$tmp/two" | field elapsed_s)
    cf=$(sed -n 2p "$tmp/two" | field comm_frac); cs=$(sed -n 2p "$tmp/two" | field comm_s); ss=$(sed -n 2p "$tmp/two" | field step_s)
    awk -v i0="$i0" -v i1="$i1" -v t0="$t0" -v t1="$t1" -v b="$2" -v r="$3" -v cf="${cf:-0}" -v cs="${cs:-0}" -v ss="${ss:-0}" \
        'BEGIN { printf "%.1f %.4f %.3f %.3f\n", (i1 - i0) * b * r / (t1 - t0), cf, cs * 1e3, ss * 1e3 }'
}

# run NET RECIPE RANKS ITERS BUCKET_KB -> "ips comm_frac comm_ms step_ms grad_mb buckets"
# RANKS "2x": two independent single-process runs at once (images/s summed)
run() {
    dir=$tmp/run
    rm -rf "$dir" "$dir.b"
    b=$(sed -n 's/.*batch_size: *\([0-9]*\).*/\1/p; s/.*dim: \[\([0-9]*\), [0-9]*, [0-9]*, [0-9]*\].*/\1/p' "$2" | head -n 1)
    case $3 in
    1) "$BIN" --headless "$2" --max-iter "$4" --threads 1 --run-dir "$dir" > "$tmp/out" 2>&1 ;;
    2x) "$BIN" --headless "$2" --max-iter "$4" --threads 1 --run-dir "$dir.b" > "$tmp/out.b" 2>&1 &
        "$BIN" --headless "$2" --max-iter "$4" --threads 1 --run-dir "$dir" > "$tmp/out" 2>&1 && wait $! ;;
    *) CAFETUI_BUCKET_KB=$5 $MPIRUN -np "$3" "$BIN" --headless "$2" --max-iter "$4" --threads 1 --run-dir "$dir" > "$tmp/out" 2>&1 ;;
    esac || { echo "mpi_scaling.sh: $1 on $3 ranks failed:" >&2; tail -n 5 "$tmp/out" >&2; exit 1; }
    mb=$(sed -n 's/.*; \([0-9.]*\) MB of gradients averaged per iteration in \([0-9]*\) buckets.*/\1 \2/p' "$tmp/out")
    if [ "$3" = 2x ]; then
        r1=$(rate "$dir" "$b" 1); r2=$(rate "$dir.b" "$b" 1)
        echo "$(awk -v a="${r1%% *}" -v b="${r2%% *}" 'BEGIN { printf "%.1f", a + b }') 0 0 0 0 0"
    else
        r=$(rate "$dir" "$b" "$3")
        echo "$r ${mb:-0 0}"
    fi
}

configs="lenet:1:1024 lenet:2x:0 lenet:2:1024 lenet:2:1048576 cifar:1:1024 cifar:2x:0 cifar:2:1024 cifar:2:1048576"
for round in $(seq "$ROUNDS"); do
    for c in $configs; do
        net=${c%%:*}; rest=${c#*:}; ranks=${rest%%:*}; kb=${rest#*:}
        iters=$ITERS_LENET; [ "$net" = cifar ] && iters=$ITERS_CIFAR
        res=$(run "$net" "$tmp/$net.yaml" "$ranks" "$iters" "$kb") || exit 1
        echo "$c $res" >> "$tmp/all"
        echo "round $round: $c: $res" >&2
    done
done
# best round per configuration
sort -k1,1 -k2,2gr "$tmp/all" | awk '!seen[$1]++' > "$tmp/best"

echo "## cafetui data-parallel scaling, $(date -u +%Y-%m-%d), $(nproc) cores, $(mpirun --version | head -n 1), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "LeNet: batch 64 per rank, $lenet_data; CIFAR-10 quick: batch 100 per rank, DummyData; 1 thread per rank; best of $ROUNDS rounds."
echo
echo "| net | ranks | gradient buckets | images/s | speed-up | communicating | comm ms / iteration | ms / iteration |"
echo "|---|---|---|---|---|---|---|---|"
awk '{ split($1, c, ":"); key = c[1] ":" c[2] ":" c[3]; ips[key] = $2; cf[key] = $3; cs[key] = $4; ss[key] = $5; mb[c[1]] = $6 > 0 ? $6 : mb[c[1]]; nb[key] = $7 }
     END {
       n = split("lenet:1:1024 lenet:2x:0 lenet:2:1024 lenet:2:1048576 cifar:1:1024 cifar:2x:0 cifar:2:1024 cifar:2:1048576", order, " ")
       for (i = 1; i <= n; i++) {
         k = order[i]; split(k, c, ":"); base = ips[c[1] ":1:1024"]
         name = c[1] == "lenet" ? "LeNet" : "CIFAR-10 quick"
         alone = c[2] == 1 || c[2] == "2x"
         b = alone ? "-" : (c[3] == 1024 ? nb[k] " of <= 1 MiB, during backward" : "1, after backward")
         comm = alone ? "-" : sprintf("%.1f %%", 100 * cf[k])
         cms = alone ? "-" : sprintf("%.2f", cs[k])
         sms = c[2] == 1 ? sprintf("%.2f", 1000 * (c[1] == "lenet" ? 64 : 100) / ips[k]) : c[2] == "2x" ? "-" : sprintf("%.2f", ss[k])
         rk = c[2] == "2x" ? "2 alone (no MPI)" : c[2]
         printf "| %s | %s | %s | %.0f | %.2fx | %s | %s | %s |\n", name, rk, b, ips[k], ips[k] / base, comm, cms, sms
       }
       printf "\ngradients per iteration: LeNet %s MB, CIFAR-10 quick %s MB\n", mb["lenet"], mb["cifar"] }' "$tmp/best"

# MPI_Allreduce alone, 2 ranks
mpicc -O2 -o "$tmp/allreduce" "$src/bench/mpi_allreduce.c" || exit 1
gl=$(awk '$1 == "lenet:2:1024" { printf "%.0f", $6 * 1e6 / 4 }' "$tmp/best")
gc=$(awk '$1 == "cifar:2:1024" { printf "%.0f", $6 * 1e6 / 4 }' "$tmp/best")
# the nets' sizes first: after a call of many megabytes the next sizes come out slower for a while here
$MPIRUN -np 2 "$tmp/allreduce" "$gl" "$gc" 1 256 4096 65536 262144 1048576 > "$tmp/ar" || exit 1
echo
echo "MPI_Allreduce alone, 2 ranks (200 calls per size; bandwidths from the fastest):"
echo
echo "| floats | bytes | fastest µs | median µs | algorithm GB/s | bus GB/s |"
echo "|---|---|---|---|---|---|"
awk '{ printf "| %d | %d | %.1f | %.1f | %.3f | %.3f |\n", $1, $2, $3, $4, $5, $6 }' "$tmp/ar"

# the model: ring all-reduce T(N) = 2(N-1)·α + 2(N-1)/N · G / β
# least squares T = a + bytes/β over the fastest times from 64K floats up; α = a/2
fit=$(awk '$1 >= 65536 { n++; x = $2; y = $3 / 1e6; sx += x; sy += y; sxx += x * x; sxy += x * y }
    END { b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n; if (a < 0) a = 0; printf "%.9f %.6g", a / 2, 1 / b }' "$tmp/ar")
alpha=${fit% *}; beta=${fit#* }
echo
echo "Least-squares fit to the fastest times for 2 ranks, sizes from 64K floats (T = 2α + G/β): α = $(awk -v a="$alpha" 'BEGIN { printf "%.1f µs", a * 1e6 }'), β = $(awk -v b="$beta" 'BEGIN { printf "%.2f GB/s", b / 1e9 }')"
echo
echo "Model, per rank: C = one rank's seconds per iteration (measured above); per iteration K ring all-reduces (K buckets)"
echo "and rank 0's control broadcast: T(N) = K·2(N-1)·α + ⌈log2 N⌉·α + 2(N-1)/N · G/β;"
echo "speed-up over one rank without overlap N·C/(C + T), with the whole reduction hidden behind the backward pass"
echo "(at most 2/3 of C) N·C/(C + max(0, T - 2C/3))."
echo
echo "| net | link | α | β | N=2 | N=4 | N=8 | N=16 | N=64 |"
echo "|---|---|---|---|---|---|---|---|---|"
for net in lenet cifar; do
    awk -v net="$net" -v alpha="$alpha" -v beta="$beta" '
        $1 == net ":1:1024" { ips = $2 } $1 == net ":2:1024" { g = $6 * 1e6; K = $7 }
        END {
          b = net == "lenet" ? 64 : 100; C = b / ips; name = net == "lenet" ? "LeNet" : "CIFAR-10 quick"
          nl = split("this machine (shared memory, measured)|100 Gb/s InfiniBand|25 Gb/s Ethernet|10 Gb/s Ethernet|1 Gb/s Ethernet", link, "|")
          split(alpha " 2e-6 10e-6 20e-6 50e-6", a, " "); split(beta " 12e9 3e9 1.2e9 0.12e9", bw, " ")
          for (l = 1; l <= nl; l++) {
            printf "| %s | %s | %.0f µs | %.2f GB/s |", name, link[l], a[l] * 1e6, bw[l] / 1e9
            split("2 4 8 16 64", ns, " ")
            for (k = 1; k <= 5; k++) {
              N = ns[k]; lg = 0; for (m = 1; m < N; m *= 2) lg++
              T = K * 2 * (N - 1) * a[l] + lg * a[l] + 2 * (N - 1) / N * g / bw[l]
              hid = T - 2 * C / 3; if (hid < 0) hid = 0
              printf " %.1f–%.1f |", N * C / (C + T), N * C / (C + hid)
            }
            printf "\n"
          }
        }' "$tmp/best"
done
