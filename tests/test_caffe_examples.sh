#!/bin/sh
# test_caffe_examples.sh — Caffe's own example solvers and nets run
# unmodified (byte-identical copies of BVLC Caffe's files), from a
# directory laid out like a Caffe checkout; only their data is stand-in:
# MNIST's LMDBs are the 200-image Fashion-MNIST fixture, CIFAR-10's are
# synthetic (cafetui convert random-lmdb) with a mean computed from them.
# Each solver runs 4 iterations (plus its iteration-0 test) and must exit 0
# having written its snapshot where its snapshot_prefix says.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(pwd)/cafetui
EX=$SRC/tests/fixtures/caffe/examples
TMP=$(mktemp -d /tmp/cafetui-examples-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

mkdir -p "$TMP/examples/mnist" "$TMP/examples/cifar10"
cp "$EX"/mnist/*.prototxt "$TMP/examples/mnist/"
cp "$EX"/cifar10/*.prototxt "$TMP/examples/cifar10/"
ln -s "$SRC/tests/fixtures/data/fashion200_lmdb" "$TMP/examples/mnist/mnist_train_lmdb"
ln -s "$SRC/tests/fixtures/data/fashion200_lmdb" "$TMP/examples/mnist/mnist_test_lmdb"
cd "$TMP" || exit 1
"$BIN" convert random-lmdb examples/cifar10/cifar10_train_lmdb --count 300 --shape 3,32,32 --seed 1 &&
"$BIN" convert random-lmdb examples/cifar10/cifar10_test_lmdb --count 200 --shape 3,32,32 --seed 2 &&
"$BIN" convert mean examples/cifar10/cifar10_train_lmdb examples/cifar10/mean.binaryproto || exit 1

# run SOLVER SNAPSHOT: train 4 iterations, expect status 0 and the snapshot
run() {
  name=$(basename "$1" .prototxt)
  "$BIN" train --solver "$1" --max-iter 4 --run-dir "$TMP/runs/$name" --threads 2 > "$TMP/$name.out" 2>&1
  rc=$?
  if [ $rc = 0 ] && [ -f "$2" ] && grep -q "Testing net" "$TMP/$name.out"; then ok "$name"
  else bad "$name" "status $rc: $(tail -n 2 "$TMP/$name.out" | tr '\n' ' ')"; fi
}

run examples/mnist/lenet_solver.prototxt examples/mnist/lenet_iter_4.h5
run examples/mnist/lenet_solver_adam.prototxt examples/mnist/lenet_iter_4.h5
run examples/mnist/lenet_solver_rmsprop.prototxt examples/mnist/lenet_rmsprop_iter_4.h5
run examples/mnist/mnist_autoencoder_solver.prototxt examples/mnist/mnist_autoencoder_iter_4.h5
run examples/cifar10/cifar10_quick_solver.prototxt examples/cifar10/cifar10_quick_iter_4.h5
run examples/cifar10/cifar10_full_solver.prototxt examples/cifar10/cifar10_full_iter_4.h5

# the autoencoder has two test nets, chosen by stage
if grep -q "Testing net (#1)" "$TMP/mnist_autoencoder_solver.out"; then ok "autoencoder: both test nets (test-on-train, test-on-test)"
else bad "autoencoder: second test net missing"; fi

# the deploy nets (no data layers) build and run: cafetui time on them
for net in examples/mnist/lenet.prototxt examples/cifar10/cifar10_quick.prototxt examples/cifar10/cifar10_full.prototxt; do
  if "$BIN" time --model "$net" --iterations 1 --phase TEST > "$TMP/time.out" 2>&1 && grep -q "Average Forward pass" "$TMP/time.out"; then
    ok "time $net"
  else bad "time $net" "$(tail -n 1 "$TMP/time.out")"; fi
done

echo "examples: $pass passed, $fail failed"
[ $fail = 0 ]
