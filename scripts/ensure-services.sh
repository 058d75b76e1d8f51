#!/usr/bin/env bash
# Make sure the servers the tests talk to are up: use them when reachable, else install and start them.
set -euo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! pg_up; then
  echo "Postgres not reachable on 127.0.0.1:5432: installing/starting it" >&2
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # Local test server only: trust loopback connections, as the CI machines do.
  grep -q "pingvas-test" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # pingvas-test\nhost all all ::1/128 trust # pingvas-test' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "Postgres did not come up" >&2; exit 1; }
echo "Postgres: ok"

if [ ! -x /usr/bin/chromium ]; then
  echo "Chromium missing (UI tests): installing Debian's chromium package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "Chromium did not install" >&2; exit 1; }
echo "Chromium: ok"

# The account app's build, component tests and Storybook (frontend-overrides/app) need Vite 8's Node.js.
node_ok() { command -v npm >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  echo "Node.js 20.19+ with npm missing: trying Debian's nodejs and npm packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || true
fi
node_ok || { echo "Node.js 20.19 or newer with npm is needed for the account app's tests (frontend-overrides/app)" >&2; exit 1; }
echo "Node.js $(node --version): ok"

# The cluster test starts its own Redis (so it may restart it) and puts Nginx in front of its API pods.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} (cluster test)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v redis-server >/dev/null 2>&1 && [ -x /usr/sbin/nginx ] || { echo "redis-server or nginx did not install" >&2; exit 1; }
echo "Redis server and Nginx binaries: ok"
