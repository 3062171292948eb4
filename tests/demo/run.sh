#!/bin/sh
# run.sh - the README's main job (`make run`): berthd on a local data
# directory, the demo template registered, two instances launched, their
# URLs and `berth status` shown. berthd keeps running afterwards so you can
# try the CLI; a second `make run` replaces it.
set -eu

BUILD=${BUILD:-build}
RUN_DIR=${BERTH_RUN_DIR:-$(pwd)/$BUILD/run}
URL="ipc://$RUN_DIR/berthd.sock"
BERTH="$BUILD/berth --url $URL"
PIDFILE="$RUN_DIR/berthd.pid"

mkdir -p "$RUN_DIR"

# A berthd from an earlier run: stop it (it cleans up its containers).
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	echo "stopping the berthd of an earlier run (pid $(cat "$PIDFILE"))"
	kill "$(cat "$PIDFILE")"
	i=0
	while kill -0 "$(cat "$PIDFILE")" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
fi

# The demo image is built from $BUILD/demo: let build contexts come from $BUILD.
setsid "$BUILD/berthd" --listen "$URL" --data-dir "$RUN_DIR/data" \
	--publish-address 127.0.0.1 --build-root "$(cd "$BUILD" && pwd)" --on-exit remove \
	>"$RUN_DIR/berthd.log" 2>&1 </dev/null &
echo $! >"$PIDFILE"

i=0
until $BERTH health >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 100 ]; then
		echo "berthd did not answer; its log:" >&2
		tail -n 20 "$RUN_DIR/berthd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "== berthd is up: $URL"
$BERTH health
echo
echo "== templates"
$BERTH templates
echo
echo "== registering the demo template (image built from $BUILD/demo)"
$BERTH template add demo --image berth-demo:latest \
	--description "berth's demo HTTP service" \
	--build-context "$(cd "$BUILD/demo" && pwd)" \
	--container-port 8000 --port-range 8080-8099 \
	--mount /data --env DEMO_DIR=/data
echo
echo "== launching two instances"
$BERTH launch demo
$BERTH launch demo
echo
echo "== status"
$BERTH status
echo
for url in $($BERTH --json ls --template demo | grep -o '"url": *"[^"]*"' | grep -o 'http://[^"]*'); do
	printf '%s answers: ' "$url"
	curl -s "$url/" || echo "(no answer)"
done
cat <<MSG

berthd keeps running (pid $(cat "$PIDFILE"), log $RUN_DIR/berthd.log).
Try:   $BUILD/berth --url $URL ls
Stop:  kill $(cat "$PIDFILE")     (graceful: stops and removes its containers)
MSG
