#!/bin/sh
# The image's entry point: `<role> [options]` runs `pingvas <role> [options]` (api, worker, migrate,
# serve, create-operator, tenant-status, recount-storage). Settings come from PINGVAS_* variables.
# exec: the role is PID 1's only child (under tini), so SIGTERM reaches it and it hands items back.
set -eu
if [ "$#" -eq 0 ]; then
  set -- api
fi
case "$1" in
  api|worker|migrate|serve|create-operator|tenant-status|recount-storage) exec pingvas "$@" ;;
  *) echo "entrypoint: unknown role '$1' (api, worker, migrate, serve, create-operator, tenant-status, recount-storage)" >&2; exit 64 ;;
esac
