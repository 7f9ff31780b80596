#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 3s).
# Go runs one fuzz target per invocation, so list them and run each in turn.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-3s}"
mapfile -t pkgs < <(go list ./...)
for pkg in "${pkgs[@]}"; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
  for t in "${targets[@]}"; do
    [ -n "$t" ] || continue
    echo "fuzz: $pkg $t ($fuzztime)"
    go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
