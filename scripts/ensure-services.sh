#!/usr/bin/env bash
# Make sure the servers the tests talk to are up: use them when reachable, else install and start them
# (Debian's packages with apt-get; on macOS, Homebrew's, which is untested: no Mac was at hand).
set -euo pipefail

macos() { [ "$(uname -s)" = Darwin ]; }
install() {  # install DEBIAN_PACKAGE HOMEBREW_FORMULA
  if macos; then
    command -v brew >/dev/null 2>&1 || { echo "Homebrew is needed to install $2 (https://brew.sh)" >&2; exit 1; }
    brew install --quiet $2
  else
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $1 >/dev/null
  fi
}
port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() { for _ in $(seq 1 30); do port_up "$1" && return 0; sleep 1; done; return 1; }

if ! port_up 5432; then
  echo "Postgres not reachable on 127.0.0.1:5432: installing/starting it" >&2
  if macos; then
    command -v pg_ctl >/dev/null 2>&1 || install postgresql postgresql@17
    brew services start postgresql@17
    wait_for_port 5432 || true
    # Homebrew's cluster trusts local connections but names its superuser after you; the tests use `postgres`.
    psql -h 127.0.0.1 -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'postgres'" | grep -q 1 ||
      createuser -h 127.0.0.1 -s postgres
  else
    command -v pg_ctlcluster >/dev/null 2>&1 || install postgresql postgresql@17
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # Local test server only: trust loopback connections, as the CI machines do.
    grep -q "pingvas-test" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # pingvas-test\nhost all all ::1/128 trust # pingvas-test' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  fi
  wait_for_port 5432 || true
fi
port_up 5432 || { echo "Postgres did not come up" >&2; exit 1; }
echo "Postgres: ok"

chromium_ok() { [ -x /usr/bin/chromium ] || [ -x /Applications/Chromium.app/Contents/MacOS/Chromium ]; }
if ! chromium_ok; then
  echo "Chromium missing (UI tests): installing it" >&2
  install chromium "--cask chromium"
fi
chromium_ok || { echo "Chromium did not install" >&2; exit 1; }
echo "Chromium: ok"

# The account app's build, component tests and Storybook (frontend-overrides/app) need Vite 8's Node.js.
node_ok() { command -v npm >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  echo "Node.js 20.19+ with npm missing: installing it" >&2
  install "nodejs npm" node || true
fi
node_ok || { echo "Node.js 20.19 or newer with npm is needed for the account app's tests (frontend-overrides/app)" >&2; exit 1; }
echo "Node.js $(node --version): ok"

# The cluster test starts its own Redis (so it may restart it) and puts Nginx in front of its API pods.
nginx_ok() { [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1; }
command -v redis-server >/dev/null 2>&1 || install redis-server redis
nginx_ok || install nginx-light nginx
command -v redis-server >/dev/null 2>&1 && nginx_ok || { echo "redis-server or nginx did not install" >&2; exit 1; }
echo "Redis server and Nginx binaries: ok"

# The rate-limit tests share Redis on 127.0.0.1:6379 (db 13), as the CI machines run it.
if ! port_up 6379; then
  echo "Redis not reachable on 127.0.0.1:6379: starting one (in memory only)" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp >/dev/null
  wait_for_port 6379 || true
fi
port_up 6379 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
echo "Redis: ok"
