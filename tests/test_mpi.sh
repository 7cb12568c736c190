#!/bin/sh
# test_mpi.sh — data-parallel training over two processes under mpirun,
# against one process (skipped with status 77 in a build without MPI or
# where mpirun is missing):
#   - 2 ranks of batch 15 learn as 1 rank of batch 30: the same losses and,
#     after 20 iterations, the same weights up to float rounding (h5diff
#     -d 1e-5); batch 30 does not divide the 200-record fixture, so global
#     batches wrap around the end of the LMDB; the same with an HDF5Data
#     layer whose rows are shuffled;
#   - only rank 0 writes the run directory (one log line per iteration);
#   - a snapshot of the 2-rank run resumes on 1 rank (batch 30) and goes
#     on as the 1-rank run did, and a 1-rank snapshot resumes on 2 ranks;
#   - a rank that cannot start stops the job with a message naming it;
#     a rank whose training fails stops every rank;
#   - SIGINT to rank 0 snapshots and stops both ranks, status 0;
#   - `mpirun -np 2 cafetui RECIPE` in a terminal (tmux, 80x24; skipped
#     without tmux): rank 0 trains in the TUI on mpirun's terminal, its
#     ranks pane shows both ranks' images/s and the reduction's share, q
#     and n stop the job (status 0), and the TUI's metrics carry the
#     ranks' figures.
# The shards themselves (which records each rank reads) are checked
# record by record in test_dist.
set -u
# The screens are UTF-8 ('—', braille): patterns match characters, not
# bytes, whatever locale the test was started in (CI starts with none).
export LC_ALL=C.UTF-8
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${CF_BUILDDIR:-$(pwd)}
BIN=$BUILD/cafetui
if ! grep -q '^#define HAVE_MPI 1' "$BUILD/config.h" 2>/dev/null; then
  echo "SKIP: this build has no MPI (install libopenmpi-dev openmpi-bin and re-run ./configure)"; exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIP: mpirun not found (apt-get install openmpi-bin)"; exit 77
fi
# Open MPI refuses root without these; no network here: shared memory only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --mca btl self,vader"
LMDB=$SRC/tests/fixtures/data/fashion200_lmdb
TMP=$(mktemp -d /tmp/cafetui-mpi-XXXXXX)
trap 'tmux -L "cfmpi-$$" kill-server >/dev/null 2>&1; rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

# A small conv net: its gradients go in several buckets of 4 KB.
recipe() { # batch file
  cat > "$2" <<EOF
name: eq
net:
  name: eq
  layer:
    - {name: data, type: Data, top: [data, label], transform_param: {scale: 0.00390625},
       data_param: {source: $LMDB, batch_size: $1}}
    - {name: conv1, type: Convolution, bottom: data, top: conv1,
       convolution_param: {num_output: 8, kernel_size: 5, weight_filler: {type: xavier}, bias_filler: {type: constant, value: 0.1}}}
    - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
    - {name: ip1, type: InnerProduct, bottom: pool1, top: ip1,
       inner_product_param: {num_output: 32, weight_filler: {type: xavier}}}
    - {name: relu1, type: ReLU, bottom: ip1, top: ip1}
    - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2,
       inner_product_param: {num_output: 10, weight_filler: {type: xavier}}}
    - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}
solver:
  base_lr: 0.05
  momentum: 0.9
  weight_decay: 0.0005
  lr_policy: fixed
  display: 1
  max_iter: 20
  snapshot: 7
  random_seed: 42
EOF
}
recipe 15 b15.yaml
recipe 30 b30.yaml
export CAFETUI_BUCKET_KB=4

# "iter loss" per train line of a metrics file
losses() { sed -n 's/.*"type":"train","iter":\([0-9]*\),"loss":\([^,]*\),.*/\1 \2/p' "$1"; }
# same iterations, losses within 1e-5 relative
same_losses() { # a b from_iter
  losses "$1" | awk -v f="$3" '$1 >= f' > "$TMP/la"
  losses "$2" | awk -v f="$3" '$1 >= f' > "$TMP/lb"
  [ -s "$TMP/la" ] && [ "$(wc -l < "$TMP/la")" = "$(wc -l < "$TMP/lb")" ] &&
    paste "$TMP/la" "$TMP/lb" | awk '{ d = $2 - $4; if (d < 0) d = -d; if ($1 != $3 || d > 1e-5 * ($2 < 0 ? -$2 : $2)) exit 1 }'
}
same_weights() { h5diff -d 1e-5 "$1" "$2" /data >/dev/null 2>&1; }

"$BIN" --headless b30.yaml --run-dir one --threads 1 > one.out 2>&1 || bad "1 rank of 30 runs" "$(tail -n 2 one.out)"
$MPIRUN -np 2 "$BIN" --headless b15.yaml --run-dir two --threads 1 > two.out 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "2 processes (MPI): batch 15 per rank, 30 per iteration" two.out; then ok "2 ranks of 15 run"
else bad "2 ranks of 15 run" "status $rc: $(tail -n 3 two.out | tr '\n' ' ')"; fi

if same_losses one/metrics.jsonl two/metrics.jsonl 0; then ok "2 ranks of 15: the losses of 1 rank of 30 (20 iterations)"
else bad "2 ranks of 15: the losses of 1 rank of 30" "$(paste "$TMP/la" "$TMP/lb" | head -n 5 | tr '\n' ';')"; fi
if same_weights one/eq_iter_20.h5 two/eq_iter_20.h5; then ok "2 ranks of 15: the weights of 1 rank of 30 after 20 iterations (h5diff -d 1e-5)"
else bad "2 ranks of 15: the weights of 1 rank of 30" "$(h5diff -d 1e-5 one/eq_iter_20.h5 two/eq_iter_20.h5 /data 2>&1 | tail -n 2)"; fi
if h5diff one/eq_iter_14.h5 two/eq_iter_14.h5 /solver/data >/dev/null 2>&1; then ok "the snapshot's data position is the global one (1 rank's)"
else bad "the snapshot's data position is the global one"; fi

# rank 0 alone writes: one log line per iteration, the ranks' figures in the metrics
n=$(grep -c "^Iteration [0-9]* (" two/train.log)
if [ "$n" = 20 ] && grep -q '"ranks":2,"comm_s":' two/metrics.jsonl && grep -q '"rank1_images_per_s":' two/metrics.jsonl &&
   grep -q "2 ranks: communicating" two/train.log && [ "$(grep -c '"type":"train"' two/metrics.jsonl)" = 20 ]; then
  ok "only rank 0 writes the log and metrics, with the communication figures"
else bad "only rank 0 writes the log and metrics" "$n log lines"; fi
if grep -q "buckets during the backward pass" two.out && ! grep -q "in 1 buckets" two.out; then ok "gradients go in several buckets"
else bad "gradients go in several buckets" "$(grep buckets two.out)"; fi

# HDF5Data, rows shuffled: 2 ranks of 15 again learn as 1 rank of 30 (the
# ranks cut one shuffled stream, as LMDB records; test_dist checks rows)
IDX=$SRC/tests/fixtures/data/fashion200_idx
"$BIN" convert idx2hdf5 "$IDX/train200-images-idx3-ubyte" "$IDX/train200-labels-idx1-ubyte" f200.h5 --scale 0.00390625 \
  > h5conv.out 2>&1 || bad "idx2hdf5" "$(tail -n 2 h5conv.out)"
for b in 15 30; do
  sed "s|{name: data, type: Data, .*|{name: data, type: HDF5Data, top: [data, label], hdf5_data_param: {source: $TMP/f200.txt, batch_size: $b, shuffle: true}}|; /data_param: {source: .*fashion200_lmdb/d" b$b.yaml > h$b.yaml
done
"$BIN" --headless h30.yaml --run-dir h1 --threads 1 > h1.out 2>&1
$MPIRUN -np 2 "$BIN" --headless h15.yaml --run-dir h2 --threads 1 > h2.out 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "type: HDF5Data" h15.yaml && same_losses h1/metrics.jsonl h2/metrics.jsonl 0 &&
   same_weights h1/eq_iter_20.h5 h2/eq_iter_20.h5 && ! grep -qi "not sharded" h2.out; then
  ok "HDF5Data shuffled: 2 ranks of 15 learn as 1 rank of 30 (losses, weights after 20 iterations)"
else bad "HDF5Data shuffled: 2 ranks of 15 learn as 1 rank of 30" "status $rc: $(tail -n 2 h2.out | tr '\n' ' ') $(paste "$TMP/la" "$TMP/lb" | head -n 3 | tr '\n' ';')"; fi

# resume: 2-rank snapshot on 1 rank, 1-rank snapshot on 2 ranks
"$BIN" --headless b30.yaml --run-dir r21 --threads 1 --resume two/eq_iter_7.h5 > r21.out 2>&1
if [ $? = 0 ] && grep -q "Resuming at iteration 7" r21.out && same_losses one/metrics.jsonl r21/metrics.jsonl 7 &&
   same_weights one/eq_iter_20.h5 r21/eq_iter_20.h5; then
  ok "a 2-rank snapshot resumes on 1 rank: losses from iteration 7 and final weights of the 1-rank run"
else bad "a 2-rank snapshot resumes on 1 rank" "$(tail -n 2 r21.out | tr '\n' ' ')"; fi
$MPIRUN -np 2 "$BIN" --headless b15.yaml --run-dir r12 --threads 1 --resume one/eq_iter_7.h5 > r12.out 2>&1
if [ $? = 0 ] && same_losses one/metrics.jsonl r12/metrics.jsonl 7 && same_weights one/eq_iter_20.h5 r12/eq_iter_20.h5; then
  ok "a 1-rank snapshot resumes on 2 ranks"
else bad "a 1-rank snapshot resumes on 2 ranks" "$(tail -n 2 r12.out | tr '\n' ' ')"; fi

# a rank that cannot start: rank 1 runs where the recipe's relative source is missing
mkdir -p wa wb && ln -s "$LMDB" wa/db
sed "s#source: $LMDB#source: db#" b15.yaml > wa/r.yaml && cp wa/r.yaml wb/r.yaml
$MPIRUN -np 1 -wdir "$TMP/wa" "$BIN" --headless r.yaml --threads 1 : -np 1 -wdir "$TMP/wb" "$BIN" --headless r.yaml --threads 1 > start.out 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "cannot open LMDB 'db'" start.out && grep -q "rank 0 of 2: stopping: rank 1 failed to start (see its message)" start.out &&
   [ ! -e wb/runs ]; then ok "a rank that cannot start stops the job, named by rank 0"
else bad "a rank that cannot start stops the job" "status $rc: $(head -n 3 start.out | tr '\n' ' ')"; fi

# a failure while training (here the loss of every rank turns NaN at once:
# the cli fixture, whose LMDB path is ../data/fashion200_lmdb) stops every rank
mkdir -p data && ln -s "$LMDB" data/fashion200_lmdb && mkdir -p fix && cp "$SRC/tests/fixtures/cli/nan.yaml" fix/
(cd fix && $MPIRUN -np 2 "$BIN" --headless nan.yaml --run-dir "$TMP/nan" --threads 1) > nan.out 2>&1
rc=$?
if [ $rc != 0 ] && grep -Eq "loss is -?(nan|inf) at iteration" nan.out && grep -q "rank [01] of 2 failed; stopping every rank" nan.out; then
  ok "a failed training stops every rank with the reason (status $rc)"
else bad "a failed training stops every rank" "status $rc: $(tail -n 4 nan.out | tr '\n' ' ')"; fi

# SIGINT to rank 0: snapshot, and both ranks stop cleanly
sed 's/max_iter: 20/max_iter: 100000000/; s/snapshot: 7/snapshot: 0/; s/display: 1/display: 100/' b15.yaml > long.yaml
$MPIRUN -np 2 "$BIN" --headless long.yaml --run-dir long --threads 1 > long.out 2>&1 &
mp=$!
i=0
while ! grep -q "^Iteration 200 " long/train.log 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
r0=""
for p in $(pgrep -P $mp); do
  tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=0$' && r0=$p
done
[ -n "$r0" ] && kill -INT "$r0"
i=0
while kill -0 $mp 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $mp 2>/dev/null && kill $mp
wait $mp
rc=$?
if [ -n "$r0" ] && [ $rc = 0 ] && grep -q "Optimization stopped at iteration" long.out && ls long/eq_iter_*.h5 >/dev/null 2>&1 &&
   ! grep -q "rank 1" long.out; then ok "SIGINT to rank 0 snapshots and stops both ranks (status 0)"
else bad "SIGINT to rank 0 stops both ranks" "rank 0 pid '$r0', status $rc: $(tail -n 3 long.out | tr '\n' ' ')"; fi

# the TUI on rank 0, in the terminal mpirun was started from
if command -v tmux >/dev/null 2>&1; then
  SOCK=cfmpi-$$
  T() { tmux -L "$SOCK" -f /dev/null "$@"; }
  cap() { T capture-pane -p -t mpi 2>/dev/null; }
  # wait up to $1 s for the screen to match $2
  wait_screen() { i=0; while ! cap | grep -Eq -- "$2" && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done; cap | grep -Eq -- "$2"; }
  printf '%s\n' "cd '$TMP' && LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen $MPIRUN -np 2 '$BIN' '$SRC/tests/fixtures/tui/tiny.yaml' --run-dir tui --threads 1 2>tui.err" \
    'echo "MPI_EXIT=$?"' 'sleep 60' > tui.sh
  T new-session -d -s mpi -x 80 -y 24 "sh $TMP/tui.sh"
  if wait_screen 120 '─ ranks ─ 2 ' && wait_screen 60 '│ r1 +[0-9.]+k? img/s' && cap | grep -Eq '│ comm +[0-9.]+ (us|ms|s) [0-9.]+%' &&
     cap | grep -Eq '│ r0 +[0-9.]+k? img/s' && cap | grep -q '^ running '; then
    ok "rank 0's TUI under mpirun: the ranks pane with both ranks' images/s and the reduction's share"
  else bad "rank 0's TUI under mpirun" "$(cap | tr -s ' ' | tail -n 8 | tr '\n' ';')"; fi
  T send-keys -t mpi q
  wait_screen 30 'snapshot before quitting' && T send-keys -t mpi n
  if wait_screen 60 '^MPI_EXIT=0$' && grep -q "2 processes (MPI): batch 64 per rank, 128 per iteration" tui/train.log &&
     grep -q '"ranks":2,"comm_s":' tui/metrics.jsonl && grep -q "Optimization stopped at iteration" tui/train.log; then
    ok "q and n on rank 0's TUI stop both ranks (status 0); its log and metrics carry the ranks' figures"
  else bad "q on rank 0's TUI stops the job" "$(cap | grep -v '^$' | tail -n 3 | tr '\n' ';') $(tail -n 2 tui.err 2>/dev/null | tr '\n' ' ')"; fi
  T kill-server >/dev/null 2>&1
else
  echo "skip the TUI under mpirun: tmux is not installed"
fi

echo "mpi: $pass passed, $fail failed"
[ $fail = 0 ]
