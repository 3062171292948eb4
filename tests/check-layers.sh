#!/bin/sh
# check-layers.sh - every include in server/ points down the layers.
#
# Usage: sh tests/check-layers.sh LAYER:DEP,DEP ... (lowest layer first)
#   e.g. base: engine:base store:base core:base,engine,store ...
# A file in server/LAYER/ may include "LAYER/x.h" and "DEP/x.h" for each of
# its DEPs; common/ headers (named without a folder) are open to all.
# sqlite3.h belongs to server/store/, curl/curl.h to server/engine/ and
# microhttpd.h to server/http/ alone, and nothing in client/ or common/ includes a server header.
# Prints each include that points the wrong way; exits 1 if there is one.
set -eu

bad=0
say() {
	echo "check-layers: $*"
	bad=1
}

for spec in "$@"; do
	layer=${spec%%:*}
	allowed=" $layer $(echo "${spec#*:}" | tr ',' ' ') "
	for f in server/"$layer"/*.[ch]; do
		for inc in $(sed -n 's|^#include "\([a-z_]*\)/[a-z_0-9]*\.h".*|\1|p' "$f" | sort -u); do
			case "$allowed" in
			*" $inc "*) ;;
			*) say "$f includes $inc/ (a $layer file may include:$allowed)" ;;
			esac
		done
	done
done

sources=$(find server client common tests -name '*.[ch]')
for f in $(grep -l '^#include <sqlite3.h>' $sources); do
	case "$f" in server/store/* | tests/*) ;; *) say "$f includes sqlite3.h (only server/store/ may)" ;; esac
done
for f in $(grep -l '^#include <curl/curl.h>' $sources); do
	case "$f" in server/engine/* | tests/*) ;; *) say "$f includes curl/curl.h (only server/engine/ may)" ;; esac
done
for f in $(grep -l '^#include <microhttpd.h>' $sources); do
	case "$f" in server/http/* | tests/*) ;; *) say "$f includes microhttpd.h (only server/http/ may)" ;; esac
done
for f in $(find client common -name '*.[ch]'); do
	if grep -q '^#include "\(base\|engine\|store\|core\|rpc\|http\|api\|daemon\)/' "$f"; then
		say "$f includes a server header"
	fi
done
for f in $(grep -l '^#include "store/store_internal.h"' $sources); do
	case "$f" in server/store/* | tests/unit/*) ;; *) say "$f includes store/store_internal.h (the store's own)" ;; esac
done

[ "$bad" -eq 0 ] && echo "check-layers: every include points down"
exit "$bad"
