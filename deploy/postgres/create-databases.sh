#!/bin/sh
# Run once by the postgres image on an empty data directory: one database per service.
# A service never reads another service's database; each has its own DSN.
set -eu
for service in identity jobs bidding escrow messaging reputation; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE marketplace_${service}"
done
