#!/bin/sh
# `make cluster` / `make cluster-stop`: on this machine, Kamailio on 5060 in front of N tongdai
# nodes (SIP 5071.., metrics 9161..) on a PostgreSQL schema, and the web app on 8000.
set -eu
cmd=${1:-start}
N=${NODES:-2}
RUN=$(realpath -m "${CLUSTER_DIR:-var/cluster}")
PG=${CLUSTER_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dtongdai_cluster}
BIN=${BIN:-.venv/bin}
mkdir -p "$RUN"
if [ "$cmd" = stop ]; then
  for f in "$RUN"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  exit 0
fi
psql -h 127.0.0.1 -U postgres -d test -qc 'CREATE SCHEMA IF NOT EXISTS tongdai_cluster' >/dev/null
export TONGDAI_DATABASE_URL="$PG" TONGDAI_WORKERS=1
# Kamailio in front limits each caller (pike) and asserts identities only from its trunk list:
# the nodes exempt it from their own per-source limits and believe its P-Asserted-Identity.
export TONGDAI_SIP__LIMITS__EXEMPT='["127.0.0.1"]' TONGDAI_SIP__TRUSTED_PROXIES='["127.0.0.1"]'
"$BIN/tongdai" db init --sample >"$RUN/db-init.log" 2>&1
: >"$RUN/dispatcher.list"
i=1
while [ "$i" -le "$N" ]; do
  port=$((5070 + i)); lo=$((16000 + (i - 1) * 2000))
  TONGDAI_DATA_DIR="$RUN/node$i" TONGDAI_NODE__ID="node$i" TONGDAI_MEDIA__RTP_PORT_MIN=$lo TONGDAI_MEDIA__RTP_PORT_MAX=$((lo + 1999)) \
    "$BIN/tongdai" serve --no-web --sip-host 127.0.0.1 --sip-port "$port" \
    --metrics-port $((9160 + i)) >"$RUN/node$i.log" 2>&1 &
  echo $! >"$RUN/node$i.pid"
  echo "1 sip:127.0.0.1:$port" >>"$RUN/dispatcher.list"
  i=$((i + 1))
done
# Kamailio starts once every node is ready (database reached, SIP open, models loaded).
i=1
while [ "$i" -le "$N" ]; do
  tries=0
  until curl -sf "http://127.0.0.1:$((9160 + i))/readyz" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 180 ]; then echo "node $i not ready after 180 s: see $RUN/node$i.log" >&2; exit 1; fi
    sleep 1
  done
  i=$((i + 1))
done
"$BIN/python" -m uvicorn server:create_app --factory --host 127.0.0.1 --port 8000 \
  >"$RUN/web.log" 2>&1 &
echo $! >"$RUN/web.pid"
kamailio -f deploy/kamailio/kamailio.cfg -DD -E -m 128 -Y "$RUN" -P "$RUN/kamailio-main.pid" \
  -A WITH_CLI_LISTEN -A "DISPATCHER_LIST=\"$RUN/dispatcher.list\"" \
  -l udp:0.0.0.0:5060 -l tcp:0.0.0.0:5060 >"$RUN/kamailio.log" 2>&1 &
echo $! >"$RUN/kamailio.pid"
echo "cluster: sip:hotline@127.0.0.1:5060 -> $N nodes; web http://127.0.0.1:8000; logs in $RUN"
