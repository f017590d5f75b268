#!/usr/bin/env bash
# Installs the system packages the test suite needs and a fresh Debian machine lacks:
# chromium (packages/protocol/test/browser.test.ts), openssl (self-signed certificates of
# the wss tests, packages/gateway/test/support/tls-cert.ts), prometheus for its promtool
# (packages/gateway/test/metrics.e2e.test.ts: `promtool check metrics`), redis-server (the
# Redis tests start their own, packages/gateway/test/support/redis-server.ts) and etcd-server
# (the etcd tests start their own etcd: packages/gateway/test/support/etcd-server.ts).
# Idempotent; runs before `npm test` (the pretest script) and in .ci/run.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
    echo "the tests need: ${missing[*]} (Debian packages); install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "installing ${missing[*]} with apt-get for the test suite" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
