#!/bin/sh
# bench/solvers.sh — train the MLP of recipes/mlp_fashion.yaml with every
# solver (the recipes under recipes/solvers/) and print each one's test
# accuracy on the 10000 Fashion-MNIST test images.  Too slow for the test
# suite (10 to 20 seconds per solver on two cores); run it by hand:
#
#     make && make data              # once: data/fashion_{train,test}_lmdb
#     bench/solvers.sh [CAFETUI] [MAX_ITER]
#
# from the repository root.  CAFETUI defaults to ./cafetui, MAX_ITER to
# 1000.  Runs go to a temporary directory, removed at the end.
set -eu

cafetui=${1:-./cafetui}
max_iter=${2:-1000}

if [ ! -x "$cafetui" ]; then
    echo "solvers.sh: no cafetui at '$cafetui' (build it, or pass its path)" >&2
    exit 2
fi
if [ ! -d data/fashion_train_lmdb ] || [ ! -d data/fashion_test_lmdb ]; then
    echo "solvers.sh: no data/fashion_*_lmdb here: run 'cafetui convert fashion-mnist data' from the repository root" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

printf '%-22s %-9s %-9s %-11s %s\n' recipe solver iters accuracy "test loss"
for recipe in recipes/solvers/mlp_*.yaml; do
    name=$(basename "$recipe" .yaml)
    run="$tmp/$name"
    if ! "$cafetui" --headless "$recipe" --max-iter "$max_iter" --run-dir "$run" --quiet 2>"$tmp/$name.err"; then
        echo "solvers.sh: $recipe failed:" >&2
        cat "$tmp/$name.err" >&2
        exit 1
    fi
    solver=$(sed -n 's/^  type: *//p' "$recipe")
    # the last test record of the run's metrics
    line=$(grep '"type":"test"' "$run/metrics.jsonl" | tail -n 1)
    acc=$(printf '%s\n' "$line" | sed -n 's/.*"accuracy":\([-0-9.e]*\).*/\1/p')
    loss=$(printf '%s\n' "$line" | sed -n 's/.*"outputs":{[^}]*"loss":\([-0-9.e]*\).*/\1/p')
    printf '%-22s %-9s %-9s %-11.4f %.4f\n' "$name" "$solver" "$max_iter" "$acc" "$loss"
done
