#!/usr/bin/env python3
"""example.py - berth from Python: health, the templates, and optionally a
launch and its removal.

    PYTHONPATH=build/python:client/python python3 client/python/example.py \\
        --url ipc://$PWD/build/run/berthd.sock --launch demo

(Installed: PYTHONPATH=/usr/local/share/berth/python.)
"""

import argparse
import os
import sys

import berth_client
from berth_client import BerthError, berth_pb2


def main():
    ap = argparse.ArgumentParser(description="Talk to berthd from Python.")
    ap.add_argument("--url", default=os.environ.get("BERTH_URL", berth_client.DEFAULT_URL),
                    help="berthd's address (default: $BERTH_URL, else %(default)s)")
    ap.add_argument("--token", default=os.environ.get("BERTH_TOKEN"))
    ap.add_argument("--launch", metavar="TEMPLATE",
                    help="launch an instance of TEMPLATE, show it, then remove it")
    args = ap.parse_args()

    try:
        with berth_client.Client(args.url, token=args.token) as c:
            h = c.health()
            print("status: %s" % berth_pb2.HealthResponse.ServingStatus.Name(h.status))
            print("version: %s" % h.version)
            print("docker: %s" % ("available" if h.docker_available else "unavailable"))
            for t in c.list_templates():
                ports = ("%d-%d" % (t.port_range_start, t.port_range_end)
                         if t.port_range_end else "%d+" % t.port_range_start)
                print("template: %s image=%s ports=%s" % (t.name, t.image, ports))
            if args.launch:
                s = c.launch(args.launch).service
                print("launched: %s %s" % (s.service_id, s.url))
                s = c.get_service(s.service_id)
                print("container: %s" % s.container.state)
                r = c.remove_service(s.service_id, purge=True)
                print("removed: %s container_removed=%s" % (
                    r.service.service_id, r.container_removed))
    except BerthError as e:
        print("example.py: %s: %s" % (e.code_name, e.message), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
