#!/bin/sh
# dnnl_layers.sh — the oneDNN primitives of issue 7 against the layers'
# own code, layer by layer (BENCHMARKS.md, "oneDNN primitives").
#
#   bench/dnnl_layers.sh [BUILD_DIR]      (default: the current directory)
#
# Runs `cafetui time` on each net of bench/dnnl_layers/ (activations,
# deconvolution, LRN, batch norm; force_backward, so every layer runs
# both passes) with CAFETUI_DNNL=0 and =1, on 1 and 2 threads, ROUNDS
# times (default 3) interleaved so that a busy spell hits both paths
# alike, and prints each layer's median forward and backward ms per
# configuration, and each net's forward-backward total as "(all)".
# ITERS: iterations per `cafetui time` (default 20).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-.}" && pwd)
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-20}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for t in 1 2; do
    r=0
    while [ "$r" -lt "$ROUNDS" ]; do
        for net in act deconv lrn bn; do
            for dn in 0 1; do
                CAFETUI_DNNL=$dn "$build/cafetui" time --model "$here/dnnl_layers/$net.yaml" \
                    --iterations "$ITERS" --threads "$t" 2>&1 |
                    awk -v net="$net" -v dn="$dn" -v t="$t" \
                        '$1 == "Average" && $2 == "Forward-Backward:" { print net, "(all)", "both", t, dn, $3 }
                         $2 ~ /^(forward|backward):$/ && $1 !~ /split/ { sub(":", "", $2); print net, $1, $2, t, dn, $3 }' \
                        >>"$raw"
            done
        done
        r=$((r + 1))
    done
done
# median of each (net, layer, pass, threads, oneDNN) over the rounds
printf '%-7s %-8s %-8s %7s %9s %9s %6s\n' net layer pass threads "off ms" "on ms" "off/on"
sort -k1,1 -k2,2 -k3,3 -k4,4n -k5,5n -k6,6g "$raw" | awk '
    function flush() { if (n) { m[key] = v[int((n + 1) / 2)]; n = 0 } }
    { k = $1 " " $2 " " $3 " " $4 " " $5; if (k != key) { flush(); key = k } v[++n] = $6 }
    END {
        flush()
        for (k in m) {
            split(k, f, " ")
            if (f[5] != 0) continue
            on = f[1] " " f[2] " " f[3] " " f[4] " 1"
            printf "%-7s %-8s %-8s %7s %9.2f %9.2f %6.2f\n", f[1], f[2], f[3], f[4], m[k], m[on], m[k] / m[on]
        }
    }' | sort -k4,4n -k1,1 -k2,2 -k3,3r
