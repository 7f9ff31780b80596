#!/usr/bin/env bash
# Builds development tools from the Go module proxy into TOOLS_DIR (outside the
# work tree, so clones share them), skipping any already built at the pinned
# version. Usage: hack/tools.sh golangci-lint controller-gen helm benchstat
set -euo pipefail
TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/authgate/bin}"
mkdir -p "$TOOLS_DIR"

declare -A pkg=(
  [golangci-lint]="github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"
  [controller-gen]="sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0"
  [helm]="helm.sh/helm/v3/cmd/helm@v3.22.0"
  [benchstat]="golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"
)

# Link-time settings a tool's own release build makes. helm's Makefile stamps
# its version and the Kubernetes version its client-go belongs to (v0.37 ->
# 1.37); without them `helm template` assumes Kubernetes 1.20.
declare -A ldflags=(
  [helm]="-X helm.sh/helm/v3/internal/version.version=v3.22.0
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
)

for tool in "$@"; do
  spec="${pkg[$tool]:-}"
  if [ -z "$spec" ]; then echo "hack/tools.sh: unknown tool $tool" >&2; exit 2; fi
  flags="$(echo ${ldflags[$tool]:-})" # one line
  want="$spec${flags:+ $flags}"
  stamp="$TOOLS_DIR/.$tool.version"
  if [ -x "$TOOLS_DIR/$tool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    continue
  fi
  echo "building $spec into $TOOLS_DIR (first time only; a few minutes)"
  (cd "$(mktemp -d)" && GOBIN="$TOOLS_DIR" go install ${flags:+-ldflags "$flags"} "$spec")
  echo "$want" > "$stamp"
done
