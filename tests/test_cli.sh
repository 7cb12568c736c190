#!/bin/sh
# test_cli.sh — the cafetui program end to end: exact messages and exit
# status for bad recipes, a headless run's outputs, NaN detection, SIGINT,
# and resume giving the same weights as a straight run.
# Run by `make check` from the build directory.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(pwd)/cafetui
FIX=$SRC/tests/fixtures/cli
TMP=$(mktemp -d /tmp/cafetui-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

# expect_error NAME RECIPE STATUS MESSAGE: cafetui exits STATUS printing exactly MESSAGE
expect_error() {
  out=$(cd "$FIX" && "$BIN" --headless "$2" --run-dir "$TMP/$1" 2>&1 >/dev/null)
  rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  if [ "$rc" = "$3" ] && [ "$last" = "$4" ]; then ok "$1"; else bad "$1" "status $rc, got: $last"; fi
}

expect_error unknown_type bad_type.yaml 2 \
  "cafetui: bad_type.yaml:6:13: layer 'ip1': unknown layer type 'InnerProdcut' (did you mean 'InnerProduct'?)"
expect_error unknown_field bad_field.yaml 2 \
  "cafetui: bad_field.yaml:11:9: layer 'conv1': unknown field 'kernal_size' (did you mean 'kernel_size'?)"
expect_error undefined_bottom bad_bottom.yaml 2 \
  "cafetui: bad_bottom.yaml:5:47: layer 'ip1': bottom 'dta' is not produced by any layer"
expect_error wrong_type bad_value.yaml 2 \
  "cafetui: bad_value.yaml:5:97: layer 'ip1': field 'num_output': expected an integer, got 'ten'"
expect_error missing_source bad_source.yaml 2 \
  "cafetui: bad_source.yaml:4:73: layer 'data': cannot open LMDB 'no_such_lmdb': No such file or directory"
expect_error shape_mismatch bad_shape.yaml 2 \
  "cafetui: bad_shape.yaml:6:7: layer 'sum': bottom 1 has shape 2 4 (8) but bottom 0 has 2 3 (6): shapes must match"
expect_error missing_recipe no_such_recipe.yaml 2 \
  "cafetui: no_such_recipe.yaml: cannot open: No such file or directory"

# a loss that blows up stops the run (status 1) naming the layer
out=$(cd "$FIX" && "$BIN" --headless nan.yaml --run-dir "$TMP/nan" --quiet 2>&1)
rc=$?
case "$out" in
  *"loss is inf at iteration 2: layer 'loss' was the first to output a non-finite value"*)
    [ $rc = 1 ] && ok nan_stops || bad nan_stops "status $rc";;
  *) bad nan_stops "$out";;
esac

# bad flags
out=$("$BIN" train --max-iterr 5 "$FIX/small.yaml" 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "cafetui: unknown option '--max-iterr' (did you mean '--max-iter'?)" ] && ok bad_flag || bad bad_flag "$rc: $out"

# a straight headless run: exit 0, metrics with train and test lines, snapshots
(cd "$FIX" && "$BIN" --headless small.yaml --run-dir "$TMP/straight" --threads 1 2>"$TMP/straight.err")
rc=$?
m="$TMP/straight/metrics.jsonl"
if [ $rc = 0 ] && grep -q '"type":"train","iter":30,"loss":' "$m" && grep -q '"type":"test","iter":40,"net":0,"outputs":{"accuracy":' "$m" \
   && [ -f "$TMP/straight/small_iter_20.h5" ] && [ -f "$TMP/straight/small_iter_40.h5" ] && [ -f "$TMP/straight/train.log" ]; then
  ok headless_run
else
  bad headless_run "status $rc; $(tail -n 3 "$TMP/straight.err")"
fi

# resume: 20 iterations, snapshot, resume to 40 == 40 straight (weights bitwise equal)
(cd "$FIX" && "$BIN" --headless small.yaml --run-dir "$TMP/half" --threads 1 --max-iter 20 2>/dev/null) &&
(cd "$FIX" && "$BIN" --headless small.yaml --run-dir "$TMP/resumed" --threads 1 --resume "$TMP/half/small_iter_20.h5" 2>"$TMP/resume.err")
rc=$?
if [ $rc = 0 ] && command -v h5diff >/dev/null; then
  if h5diff -q "$TMP/straight/small_iter_40.h5" "$TMP/resumed/small_iter_40.h5" /data /data; then ok resume_exact
  else bad resume_exact "weights differ after resume"; fi
elif [ $rc = 0 ]; then
  cmp -s "$TMP/straight/small_iter_40.h5" "$TMP/resumed/small_iter_40.h5" && ok resume_exact || bad resume_exact "files differ (no h5diff to compare weights only)"
else
  bad resume_exact "status $rc: $(tail -n 2 "$TMP/resume.err")"
fi

# a truncated snapshot is refused, and left as it was
cp "$TMP/half/small_iter_20.h5" "$TMP/cut.h5"
size=$(wc -c < "$TMP/cut.h5")
head -c $((size / 2)) "$TMP/cut.h5" > "$TMP/cut2.h5"
sum_before=$(cksum < "$TMP/cut2.h5")
out=$(cd "$FIX" && "$BIN" --headless small.yaml --run-dir "$TMP/cut" --resume "$TMP/cut2.h5" 2>&1 >/dev/null); rc=$?
case "$out" in
  *"$TMP/cut2.h5"*) [ $rc = 2 ] && [ "$(cksum < "$TMP/cut2.h5")" = "$sum_before" ] && ok truncated_snapshot || bad truncated_snapshot "status $rc";;
  *) bad truncated_snapshot "$rc: $out";;
esac

# a weights file on which libhdf5 itself faults (fuzz_hdf5): one line
# naming it and status 2, from the child that read it first; without
# that child the same run dies (SIGSEGV; status 1 under ASan, which
# catches it): the guard is what makes it safe
H5BAD=$SRC/tests/fixtures/fuzz/hdf5/libhdf5-null-memcpy
out=$(cd "$FIX" && "$BIN" --headless small.yaml --run-dir "$TMP/h5bad" --weights "$H5BAD" --max-iter 2 2>&1); rc=$?
if [ $rc = 2 ] && [ "$out" = "cafetui: $H5BAD: libhdf5 crashed reading it: the file is damaged" ]; then
  (cd "$FIX" && CAFETUI_H5_UNGUARDED=1 "$BIN" --headless small.yaml --run-dir "$TMP/h5bad2" --weights "$H5BAD" --max-iter 2 >/dev/null 2>&1)
  rc2=$?
  [ $rc2 != 0 ] && [ $rc2 != 2 ] && ok libhdf5_fault_is_an_error || bad libhdf5_fault_is_an_error "unguarded status $rc2: does the input still make libhdf5 fault?"
else bad libhdf5_fault_is_an_error "status $rc: $out"; fi

# SIGINT: snapshot and stop, exit 0
(cd "$FIX" && exec "$BIN" --headless small.yaml --run-dir "$TMP/int" --max-iter 100000000 --threads 1 2>"$TMP/int.err") &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q "Iteration 10 " "$TMP/int.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 0 ] && ls "$TMP/int"/small_iter_*.h5 >/dev/null 2>&1 && grep -q "Optimization stopped" "$TMP/int.err"; then ok sigint_snapshot
else bad sigint_snapshot "status $rc: $(tail -n 2 "$TMP/int.err")"; fi

# a Caffe solver whose net path only works relative to the solver file: used, with a notice
mkdir -p "$TMP/sv"
sed -n '/^net:/,/^solver:/p' "$FIX/small.yaml" | sed '1d;$d' | sed 's/^  //' | sed "s#../data/fashion200_lmdb#$SRC/tests/fixtures/data/fashion200_lmdb#" > "$TMP/sv/n.yaml"
printf 'net: "n.yaml"\nbase_lr: 0.01\nmax_iter: 2\n' > "$TMP/sv/s.prototxt"
out=$(cd "$TMP" && "$BIN" train --solver sv/s.prototxt --run-dir "$TMP/sv/run" 2>&1); rc=$?
case "$out" in
  *"notice: the solver's net path is relative to the solver file, not the working directory as Caffe reads it; using sv/n.yaml"*)
    [ $rc = 0 ] && ok solver_net_beside || bad solver_net_beside "status $rc";;
  *) bad solver_net_beside "$out";;
esac

echo "cli: $pass passed, $fail failed"
[ $fail = 0 ]
