#!/bin/sh
# test_recipes.sh — every example recipe under recipes/ (and
# recipes/solvers/) loads, trains a few iterations and snapshots.  Data
# stand-ins: Fashion-MNIST LMDBs are the 200-image fixture, CIFAR-10's are
# synthetic (cafetui convert random-lmdb).  The full runs are in
# BENCHMARKS.md; here we check that each recipe builds, trains and snapshots.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(pwd)/cafetui
TMP=$(mktemp -d /tmp/cafetui-recipes-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

mkdir -p "$TMP/data"
cp -r "$SRC/recipes" "$TMP/recipes"
ln -s "$SRC/tests/fixtures/data/fashion200_lmdb" "$TMP/data/fashion_train_lmdb"
ln -s "$SRC/tests/fixtures/data/fashion200_lmdb" "$TMP/data/fashion_test_lmdb"
cd "$TMP" || exit 1
"$BIN" convert random-lmdb data/cifar10_train_lmdb --count 200 --shape 3,32,32 --seed 1 &&
"$BIN" convert random-lmdb data/cifar10_test_lmdb --count 100 --shape 3,32,32 --seed 2 &&
"$BIN" convert mean data/cifar10_train_lmdb data/cifar10_mean.binaryproto || exit 1

for r in recipes/*.yaml recipes/solvers/mlp_*.yaml; do
  name=$(basename "$r" .yaml)
  # 30 iterations, a test at the end (test_iter small via the fixture size)
  "$BIN" --headless "$r" --max-iter 30 --run-dir "$TMP/runs/$name" --threads 2 > "$TMP/$name.out" 2>&1
  rc=$?
  first=$(sed -n 's/^Iteration 0 (.*loss = \([^ ]*\)$/\1/p' "$TMP/$name.out" | head -n 1)
  if [ $rc = 0 ] && ls "$TMP/runs/$name"/*.h5 >/dev/null 2>&1 || { [ $rc = 0 ] && grep -q "snapshot_after_train: false" "$r"; }; then
    ok "$name (first loss $first)"
  else
    bad "$name" "status $rc: $(tail -n 2 "$TMP/$name.out" | tr '\n' ' ')"
  fi
done

# A net of two weighted losses prints each, weighted, and their sum is
# the iteration's loss: "Train net output #0: recon_loss = A (* 1 = A
# loss)", "#1: class_loss = B (* 0.5 = C loss)", "Iteration 0 ..., loss =
# L" with L = A + C (iteration 0: the smoothed loss is that iteration's).
# The metrics' train line carries both, unweighted.
out="$TMP/autoencoder_classifier.out"
a=$(sed -n 's/^    Train net output #0: recon_loss = \([^ ]*\) (\* 1 = \([^ ]*\) loss)$/\1 \2/p' "$out" | head -n 1)
c=$(sed -n 's/^    Train net output #1: class_loss = \([^ ]*\) (\* 0.5 = \([^ ]*\) loss)$/\1 \2/p' "$out" | head -n 1)
l=$(sed -n 's/^Iteration 0 (.*), loss = \([^ ]*\)$/\1/p' "$out" | head -n 1)
if [ -n "$a" ] && [ -n "$c" ] && [ -n "$l" ] &&
   awk -v a="$a" -v c="$c" -v l="$l" 'BEGIN { split(a, A, " "); split(c, C, " ");
     d = l - (A[2] + C[2]); if (d < 0) d = -d; dc = C[2] - 0.5 * C[1]; if (dc < 0) dc = -dc;
     exit !(A[1] == A[2] && d < 1e-4 * l && dc < 1e-5 * C[1]) }' &&
   grep '"type":"train","iter":0,' "$TMP/runs/autoencoder_classifier/metrics.jsonl" |
     grep -q "\"outputs\":{\"recon_loss\":${a%% *}[0-9]*,\"class_loss\":${c%% *}[0-9]*}"; then
  ok "two losses: each train output printed with its weight (recon $a, class $c, loss $l)"
else
  bad "two losses: train outputs" "recon '$a' class '$c' loss '$l': $(grep -A3 '^Iteration 0 (' "$out" | tr '\n' '|')"
fi

echo "recipes: $pass passed, $fail failed"
[ $fail = 0 ]
