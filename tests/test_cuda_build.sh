#!/bin/sh
# test_cuda_build.sh — asking for a GPU, end to end, in every build:
#   1. this build's cafetui: --gpu 0 fails with one clear line (this
#      build has no GPU backend, or there is no CUDA device), and a recipe
#      whose solver says solver_mode GPU runs on the CPU with one notice;
#   2. when nvcc is installed and this build is not a CUDA one: a copy of
#      the source tree (its files as git sees them, tracked or new, plus
#      the generated configure; `make distdir` from a release tarball), so
#      that a source tree configured in place is no obstacle, configured
#      --with-cuda in a temporary directory, cafetui and tests/test_gpu
#      built and linked against cuBLAS, cuDNN and the CUDA runtime,
#      test_gpu run (each test passes, or skips saying there is no CUDA
#      device), and the checks of step 1 run on that build.
# Where a GPU answers, the checks become: a GPU that does not exist is
# refused by number, and solver_mode GPU runs on GPU 0.
# Exits 77 (skipped) after step 1 when nvcc is not installed.
# Run by `make check` from the build directory.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${CF_BUILDDIR:-$(pwd)}
FIX=$SRC/tests/fixtures/gpu
TMP=$(mktemp -d /tmp/cafetui-cuda-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '     %s\n' "$2"; }

built_with_cuda() { grep -q '^#define HAVE_CUDA 1' "$1/config.h" 2>/dev/null; }
has_gpu() { "$1/cafetui" device 2>/dev/null | grep -q '^GPU [0-9]*: '; }

# check_requests DIR TAG: --gpu and solver_mode GPU with DIR/cafetui.
check_requests() {
  bin=$1/cafetui
  tag=$2
  if has_gpu "$1"; then
    out=$("$bin" --headless "$FIX/solver_mode_gpu.yaml" --gpu 99 --run-dir "$TMP/$tag-99" 2>&1 >/dev/null)
    rc=$?
    case "$out" in
      "cafetui: option --gpu: GPU 99 does not exist"*) [ $rc = 2 ] && ok "$tag: --gpu 99 refused" || bad "$tag: --gpu 99" "status $rc" ;;
      *) bad "$tag: --gpu 99" "status $rc: $out" ;;
    esac
    out=$("$bin" --headless "$FIX/solver_mode_gpu.yaml" --run-dir "$TMP/$tag-mode" 2>&1 >/dev/null)
    rc=$?
    if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q '^cafetui: running on cuda:0 '; then
      ok "$tag: solver_mode GPU runs on GPU 0"
    else
      bad "$tag: solver_mode GPU" "status $rc: $out"
    fi
    return
  fi
  if built_with_cuda "$1"; then
    want="cafetui: option --gpu: no CUDA device: "
    why="no CUDA device: "
  else
    want="cafetui: option --gpu: this build has no GPU backend (rebuild with ./configure --with-cuda)"
    why="this build has no GPU backend"
  fi
  out=$("$bin" --headless "$FIX/solver_mode_gpu.yaml" --gpu 0 --run-dir "$TMP/$tag-flag" 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$out" | wc -l)
  case "$out" in
    "$want"*) if [ $rc = 2 ] && [ "$lines" = 1 ]; then ok "$tag: --gpu 0 refused: $out"
              else bad "$tag: --gpu 0" "status $rc, $lines lines: $out"; fi ;;
    *) bad "$tag: --gpu 0" "status $rc, expected '$want...', got: $out" ;;
  esac
  [ -e "$TMP/$tag-flag" ] && bad "$tag: --gpu 0 made a run directory before failing"
  out=$("$bin" --headless "$FIX/solver_mode_gpu.yaml" --run-dir "$TMP/$tag-mode" 2>&1 >/dev/null)
  rc=$?
  notes=$(printf '%s\n' "$out" | grep -c "^notice: solver_mode GPU: $why.*; running on the CPU$")
  if [ $rc = 0 ] && [ "$notes" = 1 ] && printf '%s\n' "$out" | grep -q '^Optimization done at iteration 3'; then
    ok "$tag: solver_mode GPU runs on the CPU with one notice"
  else
    bad "$tag: solver_mode GPU" "status $rc, $notes notice(s): $out"
  fi
}

check_requests "$BUILD" this-build

if built_with_cuda "$BUILD"; then
  echo "this build is the CUDA build: its test_gpu runs on its own"
  echo "cuda_build: $pass passed, $fail failed"
  [ $fail = 0 ]
  exit
fi

# The toolkit's prefix: the one that holds both bin/nvcc and the runtime's
# headers. An nvcc on PATH may be a wrapper script (/usr/local/bin/nvcc
# that execs the real one), so its own directory proves nothing.
PREFIX=
NVCC=$(command -v nvcc 2>/dev/null || true)
for p in "${CUDA_HOME:-}" /usr/local/cuda "${NVCC:+$(dirname "$(dirname "$(readlink -f "$NVCC")")")}"; do
  if [ -n "$p" ] && [ -x "$p/bin/nvcc" ] && [ -f "$p/include/cuda_runtime_api.h" ]; then PREFIX=$p; break; fi
done
if [ -z "$PREFIX" ]; then
  echo "cuda_build: skipped the --with-cuda build: no CUDA toolkit (nvcc with cuda_runtime_api.h beside it) in \$CUDA_HOME, /usr/local/cuda or on PATH"
  echo "cuda_build: $pass passed, $fail failed"
  [ $fail = 0 ] && exit 77
  exit 1
fi

# The make that runs this test must not lend its job slots to ours.
quiet_make() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make "$@"; }

# The source files into $TMP/src, with the generated autotools files
# beside them (ignored by git; made again when missing).
copy_tree() {
  # a git checkout whose top is the source tree (an unpacked release
  # inside someone's checkout, as make distcheck makes, is not one)
  top=$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null || true)
  if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$SRC" && pwd -P)" ]; then
    mkdir -p "$TMP/src" || return 1
    (cd "$SRC" && {
      git ls-files -co --exclude-standard | while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
      for f in configure Makefile.in aclocal.m4 config.h.in; do [ -f "$f" ] && echo "$f"; done
      [ -d build-aux ] && find build-aux -type f
      find m4 -type f 2>/dev/null
    } | tar -cf - -T -) | tar -C "$TMP/src" -xf - || return 1
    [ -x "$TMP/src/configure" ] || (cd "$TMP/src" && autoreconf -fi)
  else
    quiet_make -C "$BUILD" distdir distdir="$TMP/src"
  fi
}

t0=$(date +%s)
if ! copy_tree >"$TMP/copy.log" 2>&1; then
  bad "copying the source tree" "$(tail -n 5 "$TMP/copy.log")"
  echo "cuda_build: $pass passed, $fail failed"
  exit 1
fi
mkdir "$TMP/build"
cd "$TMP/build" || exit 1
if ! "$TMP/src/configure" -q --with-cuda="$PREFIX" >"$TMP/configure.log" 2>&1; then
  bad "configure --with-cuda=$PREFIX" "$(tail -n 5 "$TMP/configure.log")"
elif ! quiet_make -j2 cafetui tests/test_gpu >"$TMP/make.log" 2>&1; then
  bad "build --with-cuda" "$(grep -E 'error|Error' "$TMP/make.log" | head -n 5)"
else
  ok "configured --with-cuda=$PREFIX and built in $(($(date +%s) - t0)) s"
  libs=$(ldd ./cafetui | grep -cE 'libcudnn\.|libcublas\.|libcudart\.')
  if [ "$libs" = 3 ]; then ok "cafetui links cuDNN, cuBLAS and the CUDA runtime"
  else bad "cafetui links" "$(ldd ./cafetui | grep -E 'cud|cublas')"; fi
  out=$(CF_SRCDIR="$TMP/src" ./tests/test_gpu --verbose 2>&1)
  rc=$?
  runs=$(printf '%s\n' "$out" | grep -c '^\[RUN \]')
  skips=$(printf '%s\n' "$out" | grep -c '^\[SKIP\] .*: no CUDA device: ')
  fails=$(printf '%s\n' "$out" | grep -cE '^\[(FAIL|----)\]')
  if has_gpu .; then
    if [ $rc = 0 ] && [ "$fails" = 0 ]; then ok "test_gpu on the GPU: $runs tests"
    else bad "test_gpu" "$(printf '%s\n' "$out" | grep -E 'FAIL|----' | head -n 5)"; fi
  elif [ $rc = 0 ] && [ "$runs" -gt 20 ] && [ "$skips" = "$runs" ]; then
    ok "test_gpu: all $runs tests skip: $(printf '%s\n' "$out" | grep -m1 '^\[SKIP\]' | sed 's/.*no CUDA device: /no CUDA device: /')"
  else
    bad "test_gpu without a device" "status $rc, $runs run, $skips skipped: $(printf '%s\n' "$out" | tail -n 3)"
  fi
  check_requests "$TMP/build" cuda-build
fi
echo "cuda_build: $(($(date +%s) - t0)) s for the --with-cuda build and its checks"
echo "cuda_build: $pass passed, $fail failed"
[ $fail = 0 ]
