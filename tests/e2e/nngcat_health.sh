#!/bin/sh
# nngcat_health.sh - call berthd's Health with stock tools only: protoc
# encodes the request, nngcat (Debian's nng-utils) carries it over a req0
# socket, protoc decodes the reply. Proof that the protocol needs nothing of
# berth's own code.
#
# Usage: sh nngcat_health.sh URL
#
# Prints the decoded RpcResponse, whose payload is shown as the
# HealthResponse it holds, e.g.
#   payload {
#     status: SERVING
#     version: "0.2.0"
#     ...
# Exits 0 when berthd answers OK and SERVING, 1 otherwise.
#
# The proto comes from $BERTH_PROTO_DIR, else the source tree's proto/ or
# the installed share/berth/proto next to this script.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 URL" >&2; exit 2; }
url=$1
here=$(cd "$(dirname "$0")" && pwd)
proto_dir=${BERTH_PROTO_DIR:-}
for d in "$here/../../proto" "$here/../proto"; do
	if [ -z "$proto_dir" ] && [ -f "$d/berth/v1/berth.proto" ]; then
		proto_dir=$d
	fi
done
[ -n "$proto_dir" ] || { echo "$0: berth/v1/berth.proto not found; set BERTH_PROTO_DIR" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-nngcat.XXXXXX")
trap 'rm -rf "$work"' EXIT

# RpcResponse.payload is `bytes`; protoc's text format would print it as an
# escaped string. Bytes and an embedded message look the same on the wire,
# so a view of the envelope whose field 3 is a HealthResponse makes protoc
# decode the payload too: no unescaping in shell.
cat >"$work/health_view.proto" <<'EOF'
syntax = "proto3";
package berth_nngcat;
import "berth/v1/berth.proto";
message HealthReply {
  berth.v1.Code code = 1;
  string message = 2;
  berth.v1.HealthResponse payload = 3;
  string request_id = 4;
  repeated berth.v1.ErrorDetail details = 5;
}
EOF

# The request: Health takes an all-default HealthRequest, i.e. an empty payload.
printf 'method: "/berth.v1.Berth/Health"\nrequest_id: "nngcat-1"\ntimeout_ms: 10000\n' |
	protoc --encode=berth.v1.RpcRequest -I"$proto_dir" berth/v1/berth.proto >"$work/req.bin"

nngcat --req --dial "$url" --file "$work/req.bin" --raw --recv-timeout 15 >"$work/rep.bin"

protoc --decode=berth_nngcat.HealthReply -I"$proto_dir" -I"$work" health_view.proto \
	<"$work/rep.bin" >"$work/rep.txt"
cat "$work/rep.txt"

# proto3 leaves out fields at their default: no "code:" line means OK.
if grep -q '^code:' "$work/rep.txt"; then
	echo "$0: berthd answered $(sed -n 's/^code: //p' "$work/rep.txt")" >&2
	exit 1
fi
grep -q '^request_id: "nngcat-1"$' "$work/rep.txt" || { echo "$0: request_id not echoed" >&2; exit 1; }
grep -q '^  status: SERVING$' "$work/rep.txt" || { echo "$0: not SERVING" >&2; exit 1; }
