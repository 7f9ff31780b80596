#!/usr/bin/env bash
# Builds the envtest assets (kube-apiserver, etcd, kubectl) from the Go module
# proxy, once, into a cache outside the work tree, and prints their folder
# (for KUBEBUILDER_ASSETS). The usual setup-envtest download needs the open
# internet; the module proxy is all CI has.
#
# `go install k8s.io/kubernetes/cmd/kube-apiserver@...` is refused (the
# kubernetes module has replace directives), so this builds in a throw-away
# module that requires k8s.io/kubernetes and replaces each staging module it
# requires at v0.0.0 with the matching v0.X.Y release. Cold: about ten
# minutes on two cores and a few GB of temporary disk. Cached: instant.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
CACHE="${AUTHGATE_CACHE:-$HOME/.cache/authgate}"
DEST="$CACHE/envtest/k8s-v${K8S_VERSION}-etcd-v${ETCD_VERSION}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"

if [ -f "$DEST/.complete" ]; then
  echo "$DEST"
  exit 0
fi

say() { printf 'setup-envtest: %s\n' "$*" >&2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/authgate-envtest.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
export GOPATH="$work/gopath" GOMODCACHE="$work/gomodcache" GOCACHE="$work/gocache"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

mkdir -p "$work/build" && cd "$work/build"
go mod init authgate.local/envtest-build >/dev/null 2>&1

say "reading k8s.io/kubernetes@v${K8S_VERSION}'s staging modules"
gomod="$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@v${K8S_VERSION}")"
mapfile -t staging < <(grep -E '^[[:space:]]+k8s\.io/[A-Za-z0-9._-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' |
  grep -vE '^k8s\.io/(sample-cli-plugin|sample-controller)$')
say "replacing ${#staging[@]} staging modules with ${STAGING_VERSION}"
args=()
for m in "${staging[@]}"; do args+=("-replace=${m}=${m}@${STAGING_VERSION}"); done
go mod edit "${args[@]}" "-require=k8s.io/kubernetes@v${K8S_VERSION}"

say "resolving kube-apiserver, kubectl and etcd (downloads through the module proxy)"
go get "k8s.io/kubernetes/cmd/kube-apiserver@v${K8S_VERSION}" "k8s.io/kubernetes/cmd/kubectl@v${K8S_VERSION}" \
  "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >/dev/null 2>&1 || {
  say "go get failed; rerunning with output"; go get "k8s.io/kubernetes/cmd/kube-apiserver@v${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kubectl@v${K8S_VERSION}" "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"; exit 1; }

out="$DEST.partial"
rm -rf "$out" && mkdir -p "$out"
ver="-X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1"
ver="$ver -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
build() { # name package ldflags
  local start=$SECONDS
  say "building $1 (this is the slow part)"
  go build -trimpath -ldflags "-s -w $3" -o "$out/$1" "$2"
  say "built $1 in $((SECONDS - start))s"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ver"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ver"
build etcd go.etcd.io/etcd/server/v3 ""

"$out/kube-apiserver" --version >&2
"$out/etcd" --version | head -1 >&2
rm -rf "$DEST" && mv "$out" "$DEST"
touch "$DEST/.complete"
say "done"
echo "$DEST"
