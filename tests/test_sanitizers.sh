#!/bin/sh
# test_sanitizers.sh — the Criterion suite once more, built with
# AddressSanitizer and UBSan (-O1 -g -fsanitize=address,undefined, the
# flags of ./configure --enable-sanitizers) into tests/sanitizers/ under
# this build directory by `make sanitize-build` (tests/sanitize.mk; no
# second configure, so it works in a source tree configured in place, as
# CI builds; kept between runs, so a second run only rebuilds what
# changed).  Every test program must pass with halt_on_error=1: any
# out-of-bounds access, use after free or undefined behaviour stops it and
# fails this test.  LeakSanitizer is on too; Criterion does not fail a
# test whose process reports leaks at exit, so they are counted and listed
# here, not failed on (most are blobs the tests themselves never free).
#
# Skipped (status 77) when CAFETUI_SKIP_SANITIZERS=1, when this build is
# itself the sanitizer build (`make check` there already runs everything
# under them), or when the compiler cannot link the sanitizer runtimes.
# On the development machine (2 cores, busy) it takes about 6 minutes:
# 1.5 to build, 4 to run.  Ends with "sanitizers: N passed, M failed".
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${CF_BUILDDIR:-$(pwd)}
if [ "${CAFETUI_SKIP_SANITIZERS:-0}" = 1 ]; then
    echo "SKIP: CAFETUI_SKIP_SANITIZERS=1"; exit 77
fi
if grep -q -- '-fsanitize=address' "$BUILD/Makefile" 2>/dev/null; then
    echo "SKIP: this is the sanitizer build already"; exit 77
fi
CC=$(sed -n 's/^CC = //p' "$BUILD/Makefile")
D=$BUILD/tests/sanitizers
mkdir -p "$D"
printf 'int main(void) { return 0; }\n' > "$D/probe.c"
if ! $CC -fsanitize=address,undefined "$D/probe.c" -o "$D/probe" 2>/dev/null || ! "$D/probe"; then
    echo "SKIP: $CC cannot build with -fsanitize=address,undefined (libasan/libubsan missing?)"; exit 77
fi
# a make of its own: not the jobs of the make running this test
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
if ! make -C "$BUILD" sanitize-build > "$D/build.out" 2>&1; then
    echo "FAIL: the sanitizer build"; tail -30 "$D/build.out"; exit 1
fi

export CF_SRCDIR="$SRC" CF_BUILDDIR="$BUILD"
# allocator_may_return_null: a 2^60-byte malloc fails as in the plain
# build (damaged HDF5 files make libhdf5 ask for such; it handles NULL)
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:suppressions=$SRC/fuzz/asan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$SRC/fuzz/lsan.supp"
pass=0
fail=0
leaky=""
for t in "$D"/tests/test_*; do
    [ -x "$t" ] || continue
    out="$D/$(basename "$t").out"
    (cd "$BUILD" && "$t") > "$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && ! grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' "$out"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $t (status $rc)"
        grep -m 5 -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e '\[FAIL\]' -e 'CRASH' "$out"
    fi
    n=$(grep -c 'ERROR: LeakSanitizer' "$out")
    [ "$n" -gt 0 ] && leaky="$leaky $(basename "$t"):$n"
done
[ -n "$leaky" ] && echo "LeakSanitizer reports (test processes that exited with unfreed memory, not failed on):$leaky"
echo "sanitizers: $pass passed, $fail failed"
[ $fail -eq 0 ]
