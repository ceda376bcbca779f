#!/bin/sh
# Runs the service named by $SERVICE with its deploy config, or any command given instead.
set -eu
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
case "${SERVICE:-}" in
  identity|jobs|bidding|escrow|messaging|reputation|gateway) ;;
  *)
    echo "set SERVICE to one of: identity jobs bidding escrow messaging reputation gateway" >&2
    exit 64
    ;;
esac
# exec: nameko replaces the shell, so SIGTERM reaches it and it stops cleanly
exec nameko run --config "deploy/config/${SERVICE}.yaml" "services.${SERVICE}.service"
