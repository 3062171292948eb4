#!/usr/bin/env python3
"""tests_berth_client.py - berth_client.py against a real berthd.

    PYTHONPATH=$BUILD/python python3 client/python/tests_berth_client.py \\
        --url ipc:///tmp/.../berthd.sock --build $BUILD

tests/e2e/test_ecosystem.c starts the berthd and runs this; the exit status
is unittest's (0: every test passed). The launch test registers a template
of its own (named after this process, so parallel runs never share container
names) for the demo image built from $BUILD/demo, and removes every service
of it and the template at the end, also after a failure.
"""

import argparse
import os
import sys
import time
import unittest
import urllib.request

import berth_client
from berth_client import BerthError, berth_pb2

ARGS = None
SEEDS = ["auth_service", "buckets", "database_service", "db", "file_manager"]


def client(**kw):
    kw.setdefault("timeout_ms", 120000)
    return berth_client.Client(ARGS.url, **kw)


def http_get(url, timeout_s=10):
    """(status, body) of a GET, retried while the service starts."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, r.read().decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class RegistryCalls(unittest.TestCase):
    """Calls that need no Docker."""

    def test_health_is_serving(self):
        with client() as c:
            h = c.health()
        self.assertEqual(h.status, berth_pb2.HealthResponse.SERVING)
        self.assertTrue(h.version)
        self.assertTrue(h.event_urls)
        print("health: %s version=%s" % (
            berth_pb2.HealthResponse.ServingStatus.Name(h.status), h.version))

    def test_call_by_full_path_returns_the_typed_reply(self):
        with client() as c:
            rep = c.call("/berth.v1.Berth/Health", berth_pb2.HealthRequest())
        self.assertIsInstance(rep, berth_pb2.HealthResponse)

    def test_list_templates_has_the_seeds_sorted(self):
        with client() as c:
            names = [t.name for t in c.list_templates()]
        for seed in SEEDS:
            self.assertIn(seed, names)
        self.assertEqual(names, sorted(names))
        print("templates: %s" % " ".join(names))

    def test_unknown_template_raises_not_found(self):
        with client() as c, self.assertRaises(BerthError) as cm:
            c.get_template("no-such-template")
        self.assertEqual(cm.exception.code, berth_pb2.NOT_FOUND)
        self.assertEqual(cm.exception.code_name, "NOT_FOUND")
        self.assertIn("buckets", cm.exception.message)

    def test_invalid_template_names_the_field_in_details(self):
        bad = berth_pb2.Template(name="pybad", image="x", container_port=80,
                                 port_range_start=9000, mount_path="relative/path")
        with client() as c, self.assertRaises(BerthError) as cm:
            c.put_template(bad)
        self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")
        self.assertEqual(cm.exception.details[0].field, "template.mount_path")

    def test_revisions_and_update_template(self):
        t = berth_pb2.Template(name="pyrev", image="x:1", container_port=80,
                               port_range_start=9300, env=["A=1"])
        with client() as c:
            try:
                c.put_template(t)
                r = c.update_template(berth_pb2.Template(name="pyrev", image="x:2"), ["image"])
                self.assertEqual(list(r.changed), ["image"])
                self.assertEqual(r.template.revision, 2)
                self.assertEqual(list(r.template.env), ["A=1"])
                revs = c.template_revisions("pyrev")
                self.assertEqual([v.revision for v in revs], [2, 1])
                self.assertEqual(revs[0].summary, "image x:1 -> x:2")
                self.assertEqual(c.get_template("pyrev", revision=1).image, "x:1")
                with self.assertRaises(BerthError) as cm:
                    c.update_template(berth_pb2.Template(name="pyrev"), ["bogus"])
                self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")
                reset = c.put_template(berth_pb2.Template(
                    name="pyrev", image="x:2", container_port=80, port_range_start=9300))
                self.assertEqual(list(reset.reset_fields), ["env"])
            finally:
                c.delete_template("pyrev")

    def test_plan_and_apply_a_spec(self):
        t = berth_pb2.Template(name="pyspec", image="x:1", container_port=80,
                               port_range_start=9400)
        spec = berth_pb2.Spec(templates=[berth_pb2.SpecTemplate(template=t, instances=0)])
        with client() as c:
            try:
                plan = c.plan_spec(spec)
                self.assertEqual([ch.action for ch in plan.changes], ["create_template"])
                self.assertEqual(len(plan.fingerprint), 64)
                applied = c.apply_spec(spec, plan.fingerprint)
                self.assertEqual([ch.action for ch in applied.applied], ["create_template"])
                self.assertEqual(list(c.plan_spec(spec).changes), [])
                with self.assertRaises(BerthError) as cm:
                    c.apply_spec(spec, plan.fingerprint)  # the plan of before
                self.assertEqual(cm.exception.code_name, "FAILED_PRECONDITION")
                bad = berth_pb2.Template(name="pyspec", image="x:1", container_port=0,
                                         port_range_start=9400, mount_path="rel")
                with self.assertRaises(BerthError) as cm:
                    c.plan_spec(berth_pb2.Spec(templates=[berth_pb2.SpecTemplate(template=bad)]))
                self.assertEqual([d.field for d in cm.exception.details],
                                 ["templates.pyspec.container_port",
                                  "templates.pyspec.mount_path"])
            finally:
                c.delete_template("pyspec")

    def test_wrong_request_type_is_invalid_argument(self):
        with client() as c, self.assertRaises(BerthError) as cm:
            c.call("GetTemplate", berth_pb2.HealthRequest())
        self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")

    def test_unknown_method_is_unimplemented(self):
        with client() as c, self.assertRaises(BerthError) as cm:
            c.call("Frobnicate")
        self.assertEqual(cm.exception.code_name, "UNIMPLEMENTED")

    def test_unreachable_server_is_unavailable(self):
        with self.assertRaises(BerthError) as cm:
            berth_client.Client("ipc:///nonexistent/berthd.sock")
        self.assertEqual(cm.exception.code_name, "UNAVAILABLE")

    def test_closed_client_is_cancelled(self):
        c = client()
        c.close()
        c.close()
        with self.assertRaises(BerthError) as cm:
            c.health()
        self.assertEqual(cm.exception.code_name, "CANCELLED")


class ServiceLifecycle(unittest.TestCase):
    """LaunchService, GetService, RemoveService with the demo image."""

    @classmethod
    def setUpClass(cls):
        cls.name = "pyeco%d" % os.getpid()
        base = 20000 + (os.getpid() % 100) * 20
        context = os.path.realpath(os.path.join(ARGS.build, "demo"))
        if not os.path.isfile(os.path.join(context, "Dockerfile")):
            raise unittest.SkipTest("no demo build context at %s: run make demo" % context)
        cls.c = client()
        cls.c.put_template(berth_pb2.Template(
            name=cls.name, description="berth_client.py's test", image="berth-demo:e2e",
            build_context=context, container_port=8000, port_range_start=base,
            port_range_end=base + 19, mount_path="/data", env=["DEMO_DIR=/data"],
            stop_timeout_s=2))

    @classmethod
    def tearDownClass(cls):
        for s in cls.c.list_services(template=cls.name):
            try:
                cls.c.remove_service(s.service_id, purge=True)
            except BerthError as e:
                print("cleanup: %s: %s" % (s.service_id, e), file=sys.stderr)
        cls.c.delete_template(cls.name)
        cls.c.close()

    def test_launch_get_and_remove(self):
        rep = self.c.launch(self.name, instance="py")
        s = rep.service
        self.assertEqual(s.service_id, self.name + "_py")
        self.assertEqual(s.status, "running")
        self.assertTrue(s.url.startswith("http://127.0.0.1:"))
        print("launched: %s %s" % (s.service_id, s.url))

        status, body = http_get(s.url + "/")
        self.assertEqual(status, 200)
        self.assertIn("py", body)

        got = self.c.get_service(s.service_id)
        self.assertEqual(got.port, s.port)
        self.assertEqual(got.container.state, "running")

        removed = self.c.remove_service(s.service_id, purge=True)
        self.assertEqual(removed.service.service_id, s.service_id)
        self.assertTrue(removed.container_removed)
        self.assertTrue(removed.directory_removed)
        with self.assertRaises(BerthError) as cm:
            self.c.get_service(s.service_id)
        self.assertEqual(cm.exception.code_name, "NOT_FOUND")
        print("removed: %s" % s.service_id)

    def test_a_retried_request_id_launches_once(self):
        rid = berth_client.new_request_id()
        first = self.c.launch(self.name, request_id=rid).service
        again = self.c.launch(self.name, request_id=rid).service
        self.assertEqual(again.service_id, first.service_id)
        self.assertEqual(again.port, first.port)
        self.assertEqual([s.service_id for s in self.c.list_services(template=self.name)],
                         [first.service_id])
        self.c.remove_service(first.service_id, purge=True)

    def test_logs_follow_exec_and_events(self):
        after = self.c.watch_events(max_events=1).last_sequence
        s = self.c.launch(self.name, instance="lx").service
        try:
            status, _ = http_get(s.url + "/health")
            self.assertEqual(status, 200)
            r = self.c.service_logs(s.service_id, stream=berth_pb2.LOG_STREAM_STDERR,
                                    timestamps=True)
            self.assertIn("listening", r.logs)
            self.assertFalse(r.ended)
            self.assertTrue(r.cursor)
            with self.assertRaises(BerthError) as cm:
                self.c.service_logs(s.service_id, since="not a time")
            self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")

            done = self.c.exec_service(s.service_id, ["/berth-demo", "check"])
            self.assertEqual(done.exit_code, 0)
            self.assertFalse(done.truncated)
            with self.assertRaises(BerthError) as cm:
                self.c.exec_service(s.service_id, [])
            self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")

            events = []
            for ev in self.c.events(after=after, service=s.service_id, wait_ms=5000):
                events.append(berth_pb2.Event.Type.Name(ev.type))
                if "SERVICE_LAUNCHED" in events:
                    break
            self.assertIn("SERVICE_LAUNCHED", events)

            # Followed: the lines then the end, once the container stops.
            self.c.stop_service(s.service_id)
            lines = list(self.c.logs(s.service_id, follow=True, tail=5, wait_ms=5000))
            self.assertTrue(any("stop signal" in line for line in lines), lines)
            print("logs, exec, events: %d lines, %s" % (len(lines), events))
        finally:
            self.c.remove_service(s.service_id, purge=True)

    def test_rollout_of_an_env_change(self):
        first = self.c.launch(self.name, instance="roll").service
        try:
            changed = self.c.update_template(
                berth_pb2.Template(name=self.name, env=["DEMO_DIR=/data", "PY_ROLLOUT=2"]),
                ["env"])
            self.assertTrue(self.c.get_service(first.service_id).outdated)
            r = self.c.start_rollout(self.name, min_ready_s=1)
            self.assertEqual(r.revision, changed.template.revision)
            self.assertIn(first.service_id, [i.service_id for i in r.instances])
            deadline = time.monotonic() + 90
            while r.state == "running" and time.monotonic() < deadline:
                time.sleep(0.3)
                r = self.c.get_rollout(id=r.id)
            self.assertEqual(r.state, "done", r.message)
            self.assertEqual(self.c.get_rollout(template=self.name).id, r.id)
            with self.assertRaises(BerthError) as cm:
                self.c.control_rollout(r.id, "resume")
            self.assertEqual(cm.exception.code_name, "FAILED_PRECONDITION")
            after = self.c.get_service(first.service_id)
            self.assertFalse(after.outdated)
            self.assertEqual(after.revision, changed.template.revision)
            self.assertEqual(after.port, first.port)
            print("rolled out: %s to revision %d" % (first.service_id, after.revision))
        finally:
            self.c.remove_service(first.service_id, purge=True)


class TlsTest(unittest.TestCase):
    """tls+tcp:// to a berthd with --tls-client-ca (tests/e2e/test_security.c runs
    these with --tls-ca, --tls-cert, --tls-key and --tls-rogue-ca); skipped
    otherwise."""

    def setUp(self):
        if not ARGS.tls_ca:
            self.skipTest("not a TLS run (no --tls-ca)")

    def test_client_certificate_of_the_ca_is_served(self):
        with client(tls_ca=ARGS.tls_ca, tls_cert=ARGS.tls_cert, tls_key=ARGS.tls_key) as c:
            self.assertEqual(c.health().status, berth_pb2.HealthResponse.SERVING)
            self.assertGreaterEqual(c.call("GetStats").total_services, 0)

    def test_no_client_certificate_gets_no_connection(self):
        with self.assertRaises(BerthError) as cm:
            client(tls_ca=ARGS.tls_ca, timeout_ms=5000)
        self.assertIn(cm.exception.code_name, ("UNAVAILABLE", "UNAUTHENTICATED"))

    def test_server_of_another_ca_is_unauthenticated(self):
        with self.assertRaises(BerthError) as cm:
            client(tls_ca=ARGS.tls_rogue_ca, tls_cert=ARGS.tls_cert, tls_key=ARGS.tls_key)
        self.assertEqual(cm.exception.code_name, "UNAUTHENTICATED")

    def test_certificate_without_its_key_is_invalid_argument(self):
        with self.assertRaises(BerthError) as cm:
            client(tls_ca=ARGS.tls_ca, tls_cert=ARGS.tls_cert)
        self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--build", default=os.environ.get("BUILD") or "build")
    ap.add_argument("--tls-ca")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-rogue-ca")
    ARGS, rest = ap.parse_known_args()
    prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    return 0 if prog.result.wasSuccessful() and prog.result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
