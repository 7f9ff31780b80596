#!/usr/bin/env bash
# Builds development tools from the Go module proxy into TOOLS_DIR (outside the
# work tree, so clones share them), skipping any already built at the pinned
# version. Usage: hack/tools.sh golangci-lint controller-gen
set -euo pipefail
TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/authgate/bin}"
mkdir -p "$TOOLS_DIR"

declare -A pkg=(
  [golangci-lint]="github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"
  [controller-gen]="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0"
)

for tool in "$@"; do
  spec="${pkg[$tool]:-}"
  if [ -z "$spec" ]; then echo "hack/tools.sh: unknown tool $tool" >&2; exit 2; fi
  stamp="$TOOLS_DIR/.$tool.version"
  if [ -x "$TOOLS_DIR/$tool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$spec" ]; then
    continue
  fi
  echo "building $spec into $TOOLS_DIR (first time only; a few minutes)"
  (cd "$(mktemp -d)" && GOBIN="$TOOLS_DIR" go install "$spec")
  echo "$spec" > "$stamp"
done
