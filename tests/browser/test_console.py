#!/usr/bin/python3
"""test_console.py - the web console in a real browser (headless Debian chromium).

Run by tests/e2e/test_console.c, which starts a berthd with the HTTP gateway
and authentication on, puts the templates "console_demo" and "console_xss"
(whose description holds a <script> tag), launches console_demo_seen and
creates an operator and a viewer token (and starts a second berthd
without authentication); then this drives chromium through
chromium-driver (python3-selenium) and prints one line per check:

    ok NAME
    FAIL NAME: why

and "checks: N passed, M failed" at the end (exit 1 when any failed).
The C test reports each line as one test. Every wait is bounded; the
services this launches are removed through the console or, at the end,
by the C test (by label).

Environment (all required):
    BERTH_CONSOLE_URL     the console, e.g. http://127.0.0.1:8080/
    BERTH_OPERATOR_TOKEN  an operator token
    BERTH_VIEWER_TOKEN    a viewer token
    BERTH_RPC_URL         berthd's nng URL (the CLI changes things behind the page's back)
    BERTH_CLI             the berth CLI
    BERTH_SCREENSHOTS     where console-*.png go (e.g. build/)
    BERTH_OUTSIDE_PORT    a port outside demo's range (an operator may not choose it)
    BERTH_OPEN_CONSOLE_URL  the console of a second berthd, on loopback without authentication
"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["BERTH_CONSOLE_URL"]
OPERATOR = os.environ["BERTH_OPERATOR_TOKEN"]
VIEWER = os.environ["BERTH_VIEWER_TOKEN"]
RPC_URL = os.environ["BERTH_RPC_URL"]
CLI = os.environ["BERTH_CLI"]
SHOTS = os.environ["BERTH_SCREENSHOTS"]
OUTSIDE_PORT = os.environ["BERTH_OUTSIDE_PORT"]
OPEN_URL = os.environ["BERTH_OPEN_CONSOLE_URL"]

WAIT_S = 60          # the longest any one condition is waited for
LAUNCH_WAIT_S = 120  # a launch may build the demo image first

results = []         # (name, ok, why)
browser_log = []     # every console message chromium reported


def wait_until(what, cond, timeout_s=WAIT_S):
    """Calls cond() every 0.2 s until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except WebDriverException as e:  # an element replaced meanwhile: look again
            last_error = e
        time.sleep(0.2)
    raise AssertionError("timed out after %ds waiting for %s%s" % (
        timeout_s, what, " (%s)" % last_error.msg if last_error else ""))


def check(name):
    """Runs the decorated function at once as one named check."""
    def run(fn):
        try:
            fn()
            results.append((name, True, ""))
            print("ok %s" % name, flush=True)
        except Exception as e:  # every failure is reported, the next check runs
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            results.append((name, False, why))
            print("FAIL %s: %s" % (name, why), flush=True)
            traceback.print_exc(file=sys.stdout)
            shot("failed-" + name)
        return fn
    return run


def start_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    return d


driver = start_browser()


def collect_log():
    try:
        browser_log.extend(driver.get_log("browser"))
    except WebDriverException:
        pass


def shot(name):
    try:
        driver.save_screenshot(os.path.join(SHOTS, "console-%s.png" % name))
    except WebDriverException:
        pass


def q(css):
    return driver.find_element(By.CSS_SELECTOR, css)


def qa(css):
    return driver.find_elements(By.CSS_SELECTOR, css)


def visible(css):
    found = qa(css)
    return found[0] if found and found[0].is_displayed() else None


def row(service_id):
    return visible('#services tr[data-service="%s"]' % service_id)


def cell_text(service_id, cls):
    r = row(service_id)
    return r.find_element(By.CSS_SELECTOR, "td." + cls).text if r else None


def button(service_id, action):
    r = row(service_id)
    if not r:
        return None
    found = r.find_elements(By.CSS_SELECTOR, 'button[data-action="%s"]' % action)
    return found[0] if found and found[0].is_enabled() else None


def error_message():
    box = visible("#message.error")
    return box.text if box else ""


def dismiss_message():
    if visible("#message"):
        q("#message-close").click()


def sign_in(token):
    box = wait_until("the sign-in form", lambda: visible("#token"))
    box.clear()
    box.send_keys(token)
    q("#login-button").click()


def sign_out():
    wait_until("the sign-out button", lambda: visible("#logout")).click()
    wait_until("the sign-in form after signing out", lambda: visible("#login"))


def sign_out_if_signed_in():
    if visible("#logout"):
        sign_out()


def cli(*args):
    env = dict(os.environ, BERTH_TOKEN=OPERATOR)
    r = subprocess.run([CLI, "--url", RPC_URL, *args], env=env, capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("berth %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def launch_form(template):
    return wait_until("the launch form of " + template,
                      lambda: visible('#templates tr[data-template="%s"] form.launch' % template))


# --- the checks, in order (later ones build on earlier ones) ---------------------------------

@check("page_is_served_with_a_strict_csp_and_asks_for_a_token")
def _():
    with urllib.request.urlopen(URL, timeout=10) as r:
        csp = r.headers.get("Content-Security-Policy", "")
        body = r.read().decode()
    for part in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert part in csp, "CSP %r lacks %s" % (csp, part)
    # Nothing inline that the CSP would have to refuse.
    assert re.findall(r"<script(?![^>]*\bsrc=)", body) == [], "an inline script"
    assert re.findall(r"\s(?:on[a-z]+|style)\s*=", body) == [], "an inline handler or style"
    driver.get(URL)
    wait_until("the sign-in form", lambda: visible("#login"))
    assert not visible("#main"), "the console shows before a token was given"


@check("a_wrong_token_is_refused_with_a_message")
def _():
    sign_in("berth_" + "0" * 64)
    wait_until("an error message", lambda: "not valid" in error_message())
    assert visible("#login"), "the sign-in form went away"
    assert driver.execute_script("return sessionStorage.getItem('berth.token')") is None
    dismiss_message()


@check("operator_signs_in_and_sees_health_templates_and_services")
def _():
    sign_in(OPERATOR)
    wait_until("the console", lambda: visible("#main"))
    wait_until("the role", lambda: "operator" in q("#role").text)
    wait_until("berthd serving", lambda: q("#server-status").text == "serving")
    wait_until("the engine up and named", lambda: q("#docker-status").text.startswith("up (docker "))
    wait_until("the demo template", lambda: visible('#templates tr[data-template="console_demo"]'))
    wait_until("console_demo_seen running", lambda: cell_text("console_demo_seen", "status") == "running")
    port = row("console_demo_seen").find_element(By.CSS_SELECTOR, "td.port a")
    assert port.get_attribute("href").startswith("http://127.0.0.1:"), port.get_attribute("href")
    # The token is in sessionStorage and nowhere else.
    assert driver.execute_script("return sessionStorage.getItem('berth.token')") == OPERATOR
    assert driver.get_cookies() == [], driver.get_cookies()
    assert OPERATOR not in driver.current_url
    # Marks this page: a reload would lose it.
    driver.execute_script("window.berthNoReload = 42")


@check("uptime_cpu_and_memory_come_from_getservice")
def _():
    wait_until("an uptime", lambda: (cell_text("console_demo_seen", "uptime") or "–") != "–", 30)
    wait_until("a memory figure", lambda: "B" in (cell_text("console_demo_seen", "memory") or ""), 30)
    assert "%" in cell_text("console_demo_seen", "cpu")


@check("a_description_with_a_script_tag_is_text")
def _():
    desc = wait_until("the xss template", lambda: visible('#templates tr[data-template="console_xss"] td.desc'))
    assert desc.text == "<script>window.berthPwned=1</script><b>not bold</b>", desc.text
    assert desc.find_elements(By.CSS_SELECTOR, "script, b") == []
    assert driver.execute_script("return window.berthPwned === undefined")


@check("operator_launches_from_a_template")
def _():
    form = launch_form("console_demo")
    form.find_element(By.NAME, "instance").send_keys("web1")
    form.find_element(By.CSS_SELECTOR, 'button[data-action="launch"]').click()
    wait_until("console_demo_web1 running", lambda: cell_text("console_demo_web1", "status") == "running",
               LAUNCH_WAIT_S)
    wait_until("the launch notice", lambda: visible("#message.info"))
    dismiss_message()
    shot("operator")


@check("a_change_behind_the_page_shows_without_a_reload")
def _():
    cli("stop", "console_demo_seen")
    wait_until("console_demo_seen stopped", lambda: cell_text("console_demo_seen", "status") == "stopped", 30)
    cli("restart", "console_demo_seen")
    wait_until("console_demo_seen running again", lambda: cell_text("console_demo_seen", "status") == "running", 30)
    assert driver.execute_script("return window.berthNoReload") == 42, "the page was reloaded"


@check("live_updates_come_from_watchevents_or_polling")
def _():
    live = q("#live").text
    if visible("#events-section"):
        # berthd has WatchEvents: the launch above is in the list.
        assert live == "live (events)", live
        wait_until("the launch event", lambda: any(
            "launched" in li.text and "console_demo_web1" in li.text for li in qa("#events li")))
    else:
        assert live.startswith("polling every"), live


@check("operator_stops_and_starts_a_service")
def _():
    wait_until("the stop button", lambda: button("console_demo_web1", "stop")).click()
    wait_until("console_demo_web1 stopped", lambda: cell_text("console_demo_web1", "status") == "stopped")
    assert button("console_demo_web1", "stop") is None, "a stopped service still offers Stop"
    wait_until("the start button", lambda: button("console_demo_web1", "restart")).click()
    wait_until("console_demo_web1 running", lambda: cell_text("console_demo_web1", "status") == "running")
    dismiss_message()


@check("a_failing_action_shows_its_error")
def _():
    form = launch_form("console_demo")
    form.find_element(By.NAME, "instance").send_keys("web1")
    form.find_element(By.CSS_SELECTOR, 'button[data-action="launch"]').click()
    text = wait_until("an error message", error_message)
    assert "ALREADY_EXISTS" in text, text
    shot("error")
    dismiss_message()
    form = launch_form("console_demo")
    form.find_element(By.NAME, "instance").clear()
    form.find_element(By.NAME, "instance").send_keys("web2")
    form.find_element(By.NAME, "port").send_keys(OUTSIDE_PORT)
    form.find_element(By.CSS_SELECTOR, 'button[data-action="launch"]').click()
    text = wait_until("an error message", error_message)
    assert "outside template 'console_demo'" in text, text
    assert row("console_demo_web2") is None
    dismiss_message()


@check("logs_of_a_service_are_shown")
def _():
    # One request to the demo server makes one log line.
    urllib.request.urlopen(row("console_demo_web1").find_element(By.CSS_SELECTOR, "td.port a")
                           .get_attribute("href"), timeout=10).read()
    wait_until("the logs button", lambda: button("console_demo_web1", "logs")).click()
    wait_until("the logs panel", lambda: visible("#logs-section"))
    wait_until("a log line", lambda: '"GET /' in q("#logs").text, 30)
    shot("logs")
    q("#logs-close").click()


@check("remove_asks_first_and_cancel_keeps_the_service")
def _():
    wait_until("the remove button", lambda: button("console_demo_web1", "remove")).click()
    wait_until("the confirmation", lambda: visible("#confirm"))
    assert "console_demo_web1" in q("#confirm-text").text
    q("#confirm-no").click()
    wait_until("the confirmation closed", lambda: not visible("#confirm"))
    time.sleep(1)
    assert row("console_demo_web1") is not None, "cancel removed it"
    wait_until("the remove button", lambda: button("console_demo_web1", "remove")).click()
    wait_until("the confirmation", lambda: visible("#confirm"))
    q("#confirm-yes").click()
    wait_until("console_demo_web1 gone", lambda: row("console_demo_web1") is None)


@check("a_viewer_sees_everything_but_no_action")
def _():
    sign_out()
    sign_in(VIEWER)
    wait_until("the role", lambda: "viewer" in q("#role").text)
    wait_until("console_demo_seen", lambda: cell_text("console_demo_seen", "status") == "running")
    wait_until("the templates", lambda: visible('#templates tr[data-template="console_demo"]'))
    time.sleep(1)  # a late render would show them now
    shown = [b.text for b in qa("#services button, #templates button, #templates form")
             if b.is_displayed()]
    assert shown == [], "a viewer is offered %s" % shown
    assert not any(h.is_displayed() for h in qa("#templates th.operator-only"))
    shot("viewer")


@check("an_open_berthd_needs_no_token")
def _():
    sign_out_if_signed_in()
    driver.get(OPEN_URL)
    wait_until("the console", lambda: visible("#main"))
    assert not visible("#login"), "an open berthd asks for a token"
    assert not visible("#logout"), "nothing to sign out of"
    wait_until("the admin role", lambda: "admin" in q("#role").text)
    wait_until("the launch form", lambda: visible("#templates form.launch"))


@check("the_page_reports_no_content_security_policy_violation")
def _():
    collect_log()
    violations = [e["message"] for e in browser_log
                  if "Content Security Policy" in e.get("message", "")
                  or "Refused to" in e.get("message", "")]
    assert violations == [], violations
    errors = [e["message"] for e in browser_log
              if e.get("level") == "SEVERE" and "Failed to load resource" not in e["message"]]
    assert errors == [], errors


collect_log()
try:
    driver.quit()
except WebDriverException:
    pass
with open(os.path.join(SHOTS, "console-browser.log"), "w") as f:
    json.dump(browser_log, f, indent=1)
failed = sum(1 for _, ok, _ in results if not ok)
print("checks: %d passed, %d failed" % (len(results) - failed, failed), flush=True)
sys.exit(1 if failed else 0)
