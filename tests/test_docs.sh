#!/bin/sh
# test_docs.sh — the documentation keeps up with the code: every layer
# type the registry knows has a row in README.md's layer table and a
# subsection in cafetui-recipe(5); every verb main.c dispatches is in
# cafetui(1); every CAFETUI_* environment variable the program reads
# (engine/, src/, ui/) is an entry of cafetui(1)'s ENVIRONMENT section;
# every key of a metrics line (src/headless.c) is in its METRICS section.
set -u
SRC=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(pwd)/cafetui
pass=0; fail=0
for t in $("$BIN" --layers); do
  if grep -q "^| $t |" "$SRC/README.md" && grep -q "^\.SS $t\$" "$SRC/man/cafetui-recipe.5"; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL layer $t: missing from README.md's table or cafetui-recipe(5)"; fi
done
for v in $(sed -n 's/.*if (!strcmp(v, "\([a-z_]*\)")) return cf_cmd_.*/\1/p' "$SRC/src/main.c"); do
  [ "$v" = device_query ] && continue
  if grep -q "$v" "$SRC/man/cafetui.1"; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL verb $v: missing from cafetui(1)"; fi
done
# the man page's ENVIRONMENT section, from its .SH to the next
envsec=$(sed -n '/^\.SH ENVIRONMENT/,/^\.SH /p' "$SRC/man/cafetui.1")
vars=$(cd "$SRC" && grep -rhoE 'getenv\("CAFETUI_[A-Z0-9_]+"\)|cf_env_on\("CAFETUI_[A-Z0-9_]+"\)' \
         --include='*.c' --include='*.h' --include='*.cu' engine src ui | grep -oE 'CAFETUI_[A-Z0-9_]+' | sort -u)
[ -n "$vars" ] || { fail=$((fail + 1)); echo "FAIL no getenv(\"CAFETUI_...\") found in the sources: the check is broken"; }
for e in $vars; do
  if printf '%s\n' "$envsec" | grep -qE "^\.B[R]? $e( |\$)"; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL environment variable $e: read by the program, missing from cafetui(1) ENVIRONMENT"; fi
done
metsec=$(sed -n '/^\.SH METRICS/,/^\.SH /p' "$SRC/man/cafetui.1")
keys=$(grep -oE '\\"[a-z_]+\\":|\\"rank%d_images_per_s\\"' "$SRC/src/headless.c" | tr -d '\\":' | sed 's/%d//' | sort -u)
[ -n "$keys" ] || { fail=$((fail + 1)); echo "FAIL no metrics keys found in src/headless.c: the check is broken"; }
for k in $keys; do
  [ "$k" = type ] && continue # the line types are the section's own entries
  case $k in rank_images_per_s) pat='^\.BI rank k _images_per_s' ;; *) pat="^\.B $k\$" ;; esac
  if printf '%s\n' "$metsec" | grep -qE "$pat"; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL metrics key $k: written by src/headless.c, missing from cafetui(1) METRICS"; fi
done
echo "docs: $pass passed, $fail failed"
[ $fail = 0 ]
