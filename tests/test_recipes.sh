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

echo "recipes: $pass passed, $fail failed"
[ $fail = 0 ]
