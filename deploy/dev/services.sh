#!/usr/bin/env bash
# Starts the local services Grimoire's tests use, when they are installed but
# not running: NATS with JetStream (4222), Redis (6379), PostgreSQL (5432).
# Safe to run again; it never stops anything.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! up 4222 && [ -x /usr/sbin/nats-server ]; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
fi
if ! up 6379 && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
fi
if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
for i in $(seq 1 50); do
  up 4222 && up 6379 && up 5432 && exit 0
  sleep 0.2
done
echo "services: not all of NATS (4222), Redis (6379), PostgreSQL (5432) are up; tests that need them fail under CI=true" >&2
exit 0
