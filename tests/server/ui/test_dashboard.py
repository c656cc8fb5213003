"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a
real `wf serve` process on a loopback port that runs the test app's workers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from serve_support import APP_SPEC, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the machine's probe runs it: no sandbox as root, and no background traffic to the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
API = "/v1.0/workflows/dapr"
TOKEN = "dash-token-1234"
# WF_SCREENSHOTS=DIR keeps the screenshots there (the README's come from `WF_SCREENSHOTS=docs pytest ...`).
SHOTS = os.environ.get("WF_SCREENSHOTS")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("the dashboard tests need Chromium: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    p = context.new_page()
    p.set_default_timeout(20_000)
    p.requests = []  # type: ignore[attr-defined]
    p.errors = []  # type: ignore[attr-defined]
    p.on("request", lambda r: p.requests.append(r.url))
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    yield p
    context.close()
    assert not p.errors, p.errors  # no script error anywhere in any test


@pytest.fixture
def server(serve_process):
    return serve_process("--app", APP_SPEC)


def start(server, name: str, instance_id: str | None = None, input=None, token: str | None = None) -> str:
    headers = {"dapr-api-token": token} if token else {}
    r = httpx.post(f"{server.url}{API}/{name}/start", params={"instanceID": instance_id} if instance_id else None,
                   json=input, headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["instanceID"]


def status(server, iid: str, token: str | None = None) -> str:
    headers = {"dapr-api-token": token} if token else {}
    return httpx.get(f"{server.url}{API}/{iid}", headers=headers, timeout=10).json()["runtimeStatus"]


def shot(page, tmp_path: Path, name: str) -> Path:
    """A full-page PNG, in the test's folder (and in WF_SCREENSHOTS when set)."""
    out = tmp_path / name
    page.screenshot(path=str(out), full_page=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(SHOTS) / name)
    return out


def rows(page) -> list[str]:
    return page.locator("#instances tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)")


def test_instances_page_lists_filters_and_counts(server, page, tmp_path):
    done = [start(server, "doubler", input=n) for n in (1, 2, 3)]
    waiting = [start(server, "approval_workflow", f"order-{n}", {"id": f"o{n}"}) for n in (1, 2)]
    start(server, "failing", "bad-1", "boom")
    wait_until(lambda: all(status(server, i) == "COMPLETED" for i in done) and status(server, "bad-1") == "FAILED",
               what="doublers to complete")

    page.goto(server.url + "/")
    wait_until(lambda: len(rows(page)) == 6, what="six rows")
    assert page.locator("#chips [data-status=RUNNING] b").inner_text() == "2"
    assert page.locator("#chips [data-status=COMPLETED] b").inner_text() == "3"

    page.fill("#f-name", "approval_workflow")
    page.click("#apply")
    wait_until(lambda: sorted(rows(page)) == sorted(waiting), what="only the approval workflows")
    assert "name=approval_workflow" in page.url

    page.fill("#f-name", "")
    page.click("#apply")
    wait_until(lambda: len(rows(page)) == 6, what="all rows without the name filter")
    page.click("#chips [data-status=FAILED]")
    wait_until(lambda: rows(page) == ["bad-1"], what="the FAILED chip to filter")

    page.click("#chips [data-status=FAILED]")  # off again
    wait_until(lambda: len(rows(page)) == 6, what="all rows once the chip is off")
    page.fill("#f-prefix", "order-")
    page.click("#apply")
    wait_until(lambda: sorted(rows(page)) == sorted(waiting), what="the id prefix filter")
    page.goto(server.url + "/")
    wait_until(lambda: len(rows(page)) == 6, what="all rows again")
    shot(page, tmp_path, "dashboard-instances.png")


def test_an_instance_waiting_for_an_event_is_completed_from_the_page(server, page):
    start(server, "approval_workflow", "order-9", {"id": "o9"})
    page.goto(server.url + "/#/i/order-9")
    page.wait_for_selector("#waiting li[data-kind=event]")
    assert '"approval_decision"' in page.inner_text("#waiting")

    page.click("#act-raise")
    page.fill("#f-name", "approval_decision")
    page.fill("#f-data", '{"approved": true}')
    page.click("#confirm-ok")
    wait_until(lambda: status(server, "order-9") == "COMPLETED", what="order-9 to complete")
    page.wait_for_selector("h1 .status.COMPLETED")
    assert '"approved": true' in page.inner_text("#output")
    assert page.locator("#act-raise").count() == 0  # a finished instance takes no events


def test_bad_json_in_a_form_is_refused_in_the_dialog(server, page):
    start(server, "approval_workflow", "order-j", {"id": "oj"})
    page.goto(server.url + "/#/i/order-j")
    page.click("#act-raise")
    page.fill("#f-name", "approval_decision")
    page.fill("#f-data", "{not json")
    page.click("#confirm-ok")
    page.wait_for_selector("#confirm-error:not([hidden])")
    assert "not valid JSON" in page.inner_text("#confirm-error")
    page.click("#confirm-cancel")
    assert status(server, "order-j") == "RUNNING"


def test_suspend_and_resume_from_the_page(server, page):
    start(server, "approval_workflow", "order-s", {"id": "os"})
    page.goto(server.url + "/#/i/order-s")
    page.click("#act-suspend")
    page.fill("#f-reason", "vendor outage")
    page.click("#confirm-ok")
    wait_until(lambda: status(server, "order-s") == "SUSPENDED", what="suspended")
    page.wait_for_selector("#waiting li[data-kind=suspended]")
    assert "vendor outage" in page.inner_text("#waiting")

    page.click("#act-resume")
    page.click("#confirm-ok")
    wait_until(lambda: status(server, "order-s") == "RUNNING", what="resumed")
    page.wait_for_selector("#act-suspend")


def test_bulk_terminate_of_a_filtered_selection(server, page):
    approvals = [start(server, "approval_workflow", f"bulk-{n}", {"id": f"b{n}"}) for n in range(4)]
    others = [start(server, "doubler", input=n) for n in range(2)]
    wait_until(lambda: all(status(server, i) == "COMPLETED" for i in others), what="doublers")

    page.goto(server.url + "/#/?name=approval_workflow&status=RUNNING")
    wait_until(lambda: sorted(rows(page)) == sorted(approvals), what="the filtered selection")
    page.click("[data-bulk=filter-terminate]")
    page.wait_for_selector("#confirm[open]")
    assert page.inner_text("#confirm-title") == "Terminate 4 instances?"
    page.fill("#f-reason", "stuck")
    page.click("#confirm-ok")
    wait_until(lambda: all(status(server, i) == "TERMINATED" for i in approvals), what="the four terminated")
    assert all(status(server, i) == "COMPLETED" for i in others)  # outside the filter: untouched


def test_bulk_suspend_of_selected_rows(server, page):
    picked = [start(server, "approval_workflow", f"pick-{n}", {"id": f"p{n}"}) for n in range(3)]
    page.goto(server.url + "/")
    wait_until(lambda: len(rows(page)) == 3, what="three rows")
    page.check('input[aria-label="select pick-0"]')
    page.check('input[aria-label="select pick-2"]')
    page.click("[data-bulk=selected-suspend]")
    assert page.inner_text("#confirm-title") == "Suspend 2 instances?"
    page.click("#confirm-ok")
    wait_until(lambda: [status(server, i) for i in picked] == ["SUSPENDED", "RUNNING", "SUSPENDED"], what="two suspended")


def test_the_timeline_shows_bars_failed_attempts_and_retries(server, page, tmp_path):
    start(server, "retrying", "retry-1", 2)
    wait_until(lambda: status(server, "retry-1") == "COMPLETED", what="retry-1 to complete")
    page.goto(server.url + "/#/i/retry-1")
    page.wait_for_selector("#timeline svg")
    assert page.locator("#timeline rect.bar-failed").count() == 2  # two failed attempts, in red
    assert page.locator("#timeline rect.bar-ok").count() == 2  # the third attempt, then double
    labels = page.locator("#timeline text.label").all_text_contents()
    assert "flaky (retry 1)" in labels and "flaky (retry 2)" in labels
    assert page.locator("#timeline rect.bar-timer-done").count() == 2  # the retry delays
    shot(page, tmp_path, "dashboard-timeline.png")


def test_an_activity_in_flight_is_a_growing_bar_and_is_waited_for(server, page, tmp_path):
    gate = tmp_path / "gate"
    start(server, "gated", "live-1", str(gate))
    page.goto(server.url + "/#/i/live-1")
    page.wait_for_selector("#timeline rect.bar-live")
    assert "activity wait_for_file" in page.inner_text("#waiting")
    length = lambda: int(page.get_attribute("#timeline rect.bar-live", "data-ms"))  # noqa: E731
    first = length()
    wait_until(lambda: length() >= first + 1000, timeout=20, what="the in-flight bar to grow on auto-refresh")
    assert "running" in page.inner_text("#timeline")
    gate.touch()
    wait_until(lambda: status(server, "live-1") == "COMPLETED", what="live-1 to complete")
    page.wait_for_selector("#timeline rect.bar-ok")
    assert page.locator("#timeline rect.bar-live").count() == 0


def test_the_workers_page_lists_the_live_workers_and_what_they_run(server, page):
    page.goto(server.url + "/#/workers")
    page.wait_for_selector("#workers tbody tr td.id")
    text = page.inner_text("#workers")
    assert str(server.proc.pid) in text  # wf serve --app runs the app's worker in its own process
    assert "wf doubler" in text and "act double" in text  # its registrations


def test_token_login_and_the_page_keeps_it_for_the_tab(serve_process, page):
    server = serve_process("--app", APP_SPEC, token=TOKEN)
    start(server, "doubler", "tok-1", 4, token=TOKEN)
    r = httpx.get(server.url + "/", timeout=10)
    assert r.status_code == 200  # the page itself holds no data and needs no token ...
    assert httpx.get(server.url + API, timeout=10).status_code == 401  # ... the API does

    page.goto(server.url + "/")
    page.wait_for_selector("#login[open]")
    page.fill("#login-token", "wrong")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "refused" in page.inner_text("#login-error")
    page.fill("#login-token", TOKEN)
    page.click("#login-submit")
    wait_until(lambda: rows(page) == ["tok-1"], what="the list after login")
    assert page.evaluate("sessionStorage.getItem('wf-token')") == TOKEN
    assert page.evaluate("document.cookie") == ""  # never a cookie
    assert all(TOKEN not in u for u in page.requests)  # never in a URL

    page.reload()  # same tab: no second prompt
    wait_until(lambda: rows(page) == ["tok-1"], what="the list after reload")
    assert page.locator("#login[open]").count() == 0


def test_the_page_loads_nothing_from_elsewhere_and_sets_a_strict_policy(server, page):
    start(server, "retrying", "net-1", 1)
    wait_until(lambda: status(server, "net-1") == "COMPLETED", what="net-1")
    page.goto(server.url + "/")
    wait_until(lambda: rows(page) == ["net-1"], what="the row")
    page.click("text=net-1")
    page.wait_for_selector("#timeline svg")
    for nav in ("Workers", "Retention", "Audit", "Instances"):
        page.click(f"header >> text={nav}")
        page.wait_for_load_state("networkidle")
    assert page.requests and all(u.startswith(server.url + "/") for u in page.requests), page.requests
    r = httpx.get(server.url + "/", timeout=10)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_no_ui_and_no_cdn_docs(serve_process):
    server = serve_process("--no-ui")
    assert httpx.get(server.url + "/", timeout=10).status_code == 404
    assert httpx.get(server.url + "/ui/app.js", timeout=10).status_code == 404
    assert httpx.get(server.url + "/docs", timeout=10).status_code == 404  # Swagger UI's assets came from a CDN
    assert httpx.get(server.url + "/openapi.json", timeout=10).status_code == 200


def test_assets_are_served_with_their_types_and_unknown_ones_are_404(server):
    for name, kind in (("app.js", "text/javascript"), ("timeline.js", "text/javascript"), ("style.css", "text/css")):
        r = httpx.get(f"{server.url}/ui/{name}", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
    r = httpx.get(f"{server.url}/ui/../../etc/passwd", timeout=10)
    assert r.status_code == 404
    r = httpx.get(f"{server.url}/ui/nope.js", timeout=10)
    assert r.status_code == 404 and r.json()["errorCode"] == "ERR_ROUTE_NOT_FOUND"


def test_a_foreign_host_cannot_load_the_page(server):
    r = httpx.get(server.url + "/", headers={"Host": "evil.example"}, timeout=10)
    assert r.status_code == 403  # DNS rebinding: the page is refused like the API


def test_buttons_follow_the_tokens_role_and_the_server_refuses_beyond_it(serve_process, page, tmp_path):
    from wf.server.auth import add_token

    tokens = str(tmp_path / "tokens.toml")
    reader, operator = add_token(tokens, "viewer", "read"), add_token(tokens, "oncall", "operate")
    admin = add_token(tokens, "boss", "admin")
    server = serve_process("--app", APP_SPEC, "--tokens", tokens)
    start(server, "approval_workflow", "role-1", {"id": "r1"}, token=admin)

    page.goto(server.url + "/#/i/role-1")
    page.fill("#login-token", reader)
    page.click("#login-submit")
    page.wait_for_selector("#state")
    assert "viewer" in page.inner_text("#who") and "read" in page.inner_text("#who")
    assert page.locator("#actions button").count() == 0  # read: no action at all
    # The page only hides what the server refuses: the same token, by hand, is turned away.
    r = httpx.post(f"{server.url}{API}/role-1/pause", headers={"dapr-api-token": reader}, timeout=10)
    assert r.status_code == 403 and r.json()["errorCode"] == "ERR_PERMISSION_DENIED"
    page.goto(server.url + "/")
    wait_until(lambda: rows(page) == ["role-1"], what="the list for a reader")
    assert page.locator("#bulk").count() == 0  # bulk actions are admin's

    page.click("#logout")  # another token in the same tab
    page.wait_for_selector("#login[open]")
    page.fill("#login-token", operator)
    page.click("#login-submit")
    page.goto(server.url + "/#/i/role-1")
    page.wait_for_selector("#act-suspend")
    assert page.locator("#act-terminate").count() == 1
    assert page.locator("#act-purge").count() == 0  # purge is admin's
    page.click("#act-suspend")
    page.click("#confirm-ok")
    wait_until(lambda: status(server, "role-1", token=admin) == "SUSPENDED", what="suspended by the operator")
