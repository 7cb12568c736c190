#!/bin/sh
# test_docs.sh — the documentation keeps up with the code: every layer
# type the registry knows has a row in README.md's layer table and a
# subsection in cafetui-recipe(5); every verb main.c dispatches is in
# cafetui(1).
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
echo "docs: $pass passed, $fail failed"
[ $fail = 0 ]
