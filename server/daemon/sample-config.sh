#!/bin/sh
# sample-config.sh - berthd.conf as `make install` puts it in place: every
# setting of `BERTHD --help`, commented out with its default, except
# on-exit = keep, so that restarting berthd (systemctl restart, a package
# upgrade) leaves the services running for the next berthd to adopt.
#
# Usage: sh sample-config.sh BERTHD > berthd.conf
set -eu

cat <<'HEAD'
# /etc/berth/berthd.conf - berthd's settings (berthd(8)). Each line is
# "option = value", named as berthd's flags without "--"; flags override
# this file. The commented lines show the defaults. Installed only where
# no berthd.conf exists; `make uninstall` leaves it.

[berthd]
# A restart of berthd is not an outage: services keep running and the
# next berthd adopts them. "remove" (the flag's default, and `make run`'s)
# stops and removes every service at shutdown.
on-exit = keep

HEAD
"$1" --help | awk '
	/^  --[a-z-]+ / {
		name = $1; sub(/^--/, "", name)
		if (name == "config" || name == "print-config" || name == "version" || name == "on-exit")
			next
		line = $0
		sub(/^  --[a-z-]+ +/, "", line)
		def = ""
		if (match(line, / \(default: .*\)$/)) {
			def = substr(line, RSTART + 11, RLENGTH - 12)
			line = substr(line, 1, RSTART - 1)
		}
		if (def == "\"\"")
			def = ""
		# Short lines: the file reader refuses lines of 200 characters and more.
		n = split(line, words, " ")
		out = "#"
		for (i = 1; i <= n; i++) {
			if (length(out) + 1 + length(words[i]) > 76) {
				print out
				out = "#"
			}
			out = out " " words[i]
		}
		print out
		print "#" name (def == "" ? " =" : " = " def)
		print ""
	}'
