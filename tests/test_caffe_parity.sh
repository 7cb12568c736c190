#!/bin/sh
# test_caffe_parity.sh — cafetui gives the numbers BVLC Caffe gave, from
# Caffe's own files: LeNet's and the V1 MLP's trained weights
# (.caffemodel and .caffemodel.h5), tested over the whole Fashion-MNIST
# test set (converted here from Debian's dataset-fashion-mnist):
#   LeNet 500 iterations: accuracy 0.8181, loss 0.497902 (Caffe's figures)
#   MLP (V1 syntax) 300:  accuracy 0.7991, loss 0.567382
# and ip2 for the first 100 test images within 1e-4 of pycaffe's.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(pwd)/cafetui
FIX=$SRC/tests/fixtures/caffe
DS=/usr/share/datasets/fashion-mnist
if [ ! -f "$DS/t10k-images-idx3-ubyte.gz" ]; then
  echo "SKIP: $DS missing (apt-get install dataset-fashion-mnist)"; exit 77
fi
TMP=$(mktemp -d /tmp/cafetui-parity-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

"$BIN" convert idx2lmdb "$DS/t10k-images-idx3-ubyte.gz" "$DS/t10k-labels-idx1-ubyte.gz" "$TMP/test_lmdb" || exit 1
# the train LMDB is only opened, never read, by the TEST phase: any LMDB does
for f in lenet_fashion_train_test.prototxt mlp_v1_train_test.prototxt; do
  sed "s#FASHION_TEST_LMDB#$TMP/test_lmdb#; s#FASHION_TRAIN_LMDB#$SRC/tests/fixtures/data/fashion200_lmdb#" "$FIX/$f" > "$TMP/$f"
done

# close A B TOL: |A - B| <= TOL
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
value() { sed -n "s/^$1 = \([^ ]*\).*/\1/p" "$2" | tail -n 1; }
# max |difference| between two files of numbers, line by line
maxdiff() { paste -d' ' "$1" "$2" | awk '{ n = NF / 2; for (i = 1; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > m) m = d } } END { print m + 0 }'; }

check_model() { # name net weights accuracy loss ip2-reference
  "$BIN" test --model "$TMP/$2" --weights "$FIX/$3" --iterations 100 --dump "ip2=$TMP/ip2.txt" > "$TMP/out.txt" 2>"$TMP/err.txt"
  rc=$?
  acc=$(value accuracy "$TMP/out.txt"); loss=$(value loss "$TMP/out.txt")
  if [ $rc = 0 ] && close "$acc" "$4" 1e-6 && close "$loss" "$5" 5e-6; then ok "$1: accuracy $acc, loss $loss"
  else bad "$1" "status $rc, accuracy '$acc' (want $4), loss '$loss' (want $5): $(tail -n 1 "$TMP/err.txt")"; fi
  head -n 100 "$TMP/ip2.txt" > "$TMP/ip2_100.txt"
  m=$(maxdiff "$TMP/ip2_100.txt" "$FIX/$6")
  if [ "$(wc -l < "$TMP/ip2_100.txt")" = 100 ] && close "$m" 0 1e-4; then ok "$1: ip2 of 100 images within $m"
  else bad "$1: ip2" "max difference $m"; fi
}

check_model "lenet caffemodel" lenet_fashion_train_test.prototxt lenet_fashion_500.caffemodel 0.8181 0.497902 lenet_fashion_500_ip2_first100.txt
check_model "lenet caffemodel.h5" lenet_fashion_train_test.prototxt lenet_fashion_500.caffemodel.h5 0.8181 0.497902 lenet_fashion_500_ip2_first100.txt
check_model "mlp v1" mlp_v1_train_test.prototxt mlp_v1_300.caffemodel 0.7991 0.567382 mlp_v1_300_ip2_first100.txt

# export writes a .caffemodel that reads back to the same test figures
if "$BIN" export --model "$TMP/lenet_fashion_train_test.prototxt" --weights "$FIX/lenet_fashion_500.caffemodel.h5" -o "$TMP/again.caffemodel" 2>/dev/null \
   && "$BIN" test --model "$TMP/lenet_fashion_train_test.prototxt" --weights "$TMP/again.caffemodel" --iterations 100 > "$TMP/out2.txt" 2>/dev/null \
   && [ "$(value accuracy "$TMP/out2.txt")" = 0.8181 ]; then ok "export round trip"
else bad "export round trip"; fi

# and its bytes decode as a NetParameter by an independent decoder (protoc)
if command -v protoc >/dev/null; then
  protoc --decode_raw < "$TMP/again.caffemodel" > "$TMP/raw.txt" 2>&1
  layers=$(grep -c '^100 {' "$TMP/raw.txt")
  names=$(grep -A1 '^100 {' "$TMP/raw.txt" | sed -n 's/^  1: "\(.*\)"/\1/p' | tr '\n' ' ')
  if head -n 1 "$TMP/raw.txt" | grep -q '^1: "LeNet"$' && [ "$layers" = 4 ] && [ "$names" = "conv1 conv2 ip1 ip2 " ]; then
    ok "export decodes with protoc --decode_raw: layers $names"
  else bad "protoc --decode_raw" "$layers layers: $names"; fi
else
  echo "SKIP protoc --decode_raw (install protobuf-compiler)"
fi

echo "parity: $pass passed, $fail failed"
[ $fail = 0 ]
