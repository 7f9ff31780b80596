#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 3s).
# Go runs one fuzz target per invocation, so list them and run each in turn.
#
# Go's fuzzing engine sometimes ends a time-bounded run with "context
# deadline exceeded" while its workers shut down, without having found
# anything (no "Failing input written"). Such a run is retried once; a real
# finding always fails.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-3s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run_target() { # package target
  go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" >"$log" 2>&1
}

mapfile -t pkgs < <(go list ./...)
for pkg in "${pkgs[@]}"; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
  for t in "${targets[@]}"; do
    [ -n "$t" ] || continue
    echo "fuzz: $pkg $t ($fuzztime)"
    if run_target "$pkg" "$t"; then
      tail -n 1 "$log"
      continue
    fi
    if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
      echo "fuzz: $t ended with the engine's shutdown timeout and no finding; running it again"
      if run_target "$pkg" "$t"; then
        tail -n 1 "$log"
        continue
      fi
    fi
    cat "$log"
    exit 1
  done
done
