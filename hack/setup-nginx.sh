#!/usr/bin/env bash
# Installs an nginx with the auth_request module for the real-nginx
# end-to-end tests (test/e2e), on Debian or Ubuntu. It does nothing when a
# suitable nginx is already there, so `make test` and CI can run it every time.
#
# The tests start their own nginx as a child process with everything under a
# temporary directory; they need the binary only. So the package's service is
# kept from starting (policy-rc.d) and, should one be running anyway, stopped:
# a system nginx on port 80 is not something a test setup should leave behind.
set -euo pipefail

log() { echo "setup-nginx: $*"; }

find_nginx() {
  # /usr/sbin is not on every user's PATH, but it is where Debian puts nginx.
  if command -v nginx >/dev/null 2>&1; then
    command -v nginx
  elif [[ -x /usr/sbin/nginx ]]; then
    echo /usr/sbin/nginx
  else
    return 1
  fi
}

has_auth_request() {
  # Capture first: `nginx -V | grep -q` can fail under pipefail when grep
  # exits early and nginx dies of SIGPIPE.
  local out
  out=$("$1" -V 2>&1) || return 1
  grep -q http_auth_request_module <<<"$out"
}

if bin=$(find_nginx) && has_auth_request "$bin"; then
  log "$bin already has http_auth_request_module; nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no suitable nginx and no apt-get: install nginx with http_auth_request_module yourself" >&2
  exit 1
fi

SUDO=()
if [[ $EUID -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "installing nginx-light needs root: run this as root or install sudo" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

# Keep the package's postinst from starting a system nginx: invoke-rc.d asks
# policy-rc.d, and 101 means "action not allowed". An existing policy-rc.d
# (common in containers) is left as it is.
policy_rc=/usr/sbin/policy-rc.d
if [[ ! -e $policy_rc ]]; then
  "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy_rc && chmod 755 $policy_rc"
  trap '"${SUDO[@]}" rm -f "$policy_rc"' EXIT
  log "created $policy_rc so the package does not start nginx (removed on exit)"
fi

apt_install() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends nginx-light
}

# Refresh the package lists only when they cannot serve the install: none
# known for nginx-light yet (a fresh image has empty lists), or a stale
# version the mirror no longer has.
policy=$(apt-cache policy nginx-light 2>/dev/null || true)
if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
  log "nginx-light unknown to apt: running apt-get update"
  "${SUDO[@]}" apt-get update
  apt_install
elif ! apt_install; then
  log "install failed, package lists may be stale: running apt-get update and retrying"
  "${SUDO[@]}" apt-get update
  apt_install
fi
log "installed nginx-light"

if ! bin=$(find_nginx) || ! has_auth_request "$bin"; then
  log "nginx-light installed, but no nginx with http_auth_request_module was found" >&2
  exit 1
fi

# Best effort: a service started despite policy-rc.d (e.g. by systemd) would
# hold port 80. Both commands act on the package's pid file (/run/nginx.pid),
# so an nginx a test started under its own prefix is never touched.
if pgrep -x nginx >/dev/null 2>&1; then
  if "${SUDO[@]}" "$bin" -s quit 2>/dev/null || "${SUDO[@]}" service nginx stop >/dev/null 2>&1; then
    log "stopped the nginx service the package started"
  else
    log "an nginx is running that this script did not stop (not the package's service?)"
  fi
fi
log "ready: $bin has http_auth_request_module"
