"""The patient chat widget in a real browser: Debian's Chromium driven by Playwright.

The widget is the real `assistant/widget/widget.js` served by the real app on loopback, answering
from the real corpus index with the extractive composer. Host pages on another origin are served
by a small HTTP server on a second loopback port, so embedding, CORS and the Origin check are
exercised exactly as on a clinic's site. Nothing of ours is mocked or stubbed.

Set FIBRO_WRITE_SCREENSHOT=1 to write docs/widget.png (the README's screenshot) from the demo page.
"""

from __future__ import annotations

import gzip
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.api.routes.widget import DEMO_CSP, WIDGET_DIR
from assistant.settings import Settings
from tests.support import LiveServer, free_port, parse_sse

# The first answers of a cold process are slow on a small machine.
HTTP = httpx.Client(timeout=60)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "widget.png"
QUESTION = "Did the mice in the antibody study recover?"
FOLLOW_UP = "How long did that take?"
CRISIS = "I want to kill myself"
MAX_GZIP_BYTES = 30 * 1024

# Rules a careless host stylesheet might carry; none may move or restyle the widget.
HOSTILE_CSS = """
html { font-size: 40px !important; }
body { font: italic 30px/3 serif !important; color: red !important; letter-spacing: 6px;
       text-transform: uppercase; word-spacing: 20px; text-align: right; direction: rtl; }
* { box-sizing: content-box !important; margin: 7px !important; padding: 9px !important; }
button, textarea, section, div, h2, p { all: unset !important; display: none !important; }
button { background: yellow !important; font-size: 50px !important; }
fibro-chat { display: none !important; position: absolute !important; top: -5000px !important;
             transform: scale(0.3) !important; font-size: 5px !important; opacity: 0 !important; }
:root { --accent: hotpink; --ink: lime; }
"""

# ---- servers ----------------------------------------------------------------------------------


class HostSite:
    """Another origin on loopback serving host pages (path -> (html, headers)), like a clinic."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                html, headers = pages.get(self.path, ("not found", {}))
                body = html.encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def page(self, path: str, api: str, *, css: str = "", data: str = "") -> str:
        """Add a page embedding the widget from `api` with the documented CSP; its URL."""
        csp = f"default-src 'none'; script-src {api}; connect-src {api}; style-src 'unsafe-inline'"
        style = f"<style>{css}</style>" if css else ""
        html = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clinic</title>'
            f"{style}</head><body><main><h1>Clinic news</h1><p>Opening hours.</p></main>"
            f'<script src="{api}/widget.js" data-title="Ask about fibromyalgia" {data} async>'
            f"</script></body></html>"
        )
        self.pages[path] = (html, {"content-security-policy": csp})
        return self.origin + path


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite()
    site.thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


def _app_settings(base: Settings, **overrides: Any) -> Settings:
    return base.model_copy(update=overrides)


@pytest.fixture(scope="module")
def widget_app(corpus_pipeline, corpus_settings, host: HostSite) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The real app, allowing the host site's origin (and no other) to embed the widget."""
    settings = _app_settings(corpus_settings, widget_origins=[host.origin])
    with LiveServer(create_app(settings, corpus_pipeline)) as server:
        # The first answer of a process loads models and caches; pay for it here, not inside a
        # browser test's timeouts.
        assert HTTP.post(server.url + "/v1/answer", json={"question": QUESTION}).status_code == 200
        yield server


@pytest.fixture(scope="module")
def slow_app(corpus_pipeline, corpus_settings, host: HostSite) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """One answer at a time: a test holding the gate's slot makes a question wait in the queue."""
    settings = _app_settings(
        corpus_settings,
        widget_origins=[host.origin],
        max_concurrent_answers=1,
        queue_timeout_seconds=20.0,
    )
    app = create_app(settings, corpus_pipeline)
    with LiveServer(app) as server:
        server.app = app  # type: ignore[attr-defined]
        yield server


# ---- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (Playwright cannot download browsers here); `make test` installs it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install -y chromium` (make test does)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


class Tab:
    """A fresh page in its own context, collecting console errors (a CSP refusal is one)."""

    def __init__(self, browser: Any, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def chat(self, selector: str = "") -> Any:
        """A locator inside the widget (Playwright's CSS pierces open shadow roots)."""
        return self.page.locator(f"fibro-chat {selector}".strip())

    def open(self) -> None:
        self.chat(".launcher").click()
        self.chat(".panel").wait_for(state="visible")

    def ask(self, question: str) -> Any:
        """Type a question, press Enter, wait for the finished answer; its message locator."""
        before = self.chat(".bot").count()
        self.chat("textarea").fill(question)
        self.chat("textarea").press("Enter")
        message = self.chat(".bot").nth(before)
        message.locator(".feedback").wait_for(timeout=60_000)
        return message

    def active(self) -> dict[str, str]:
        """What has focus inside the widget's shadow root."""
        result: dict[str, str] = self.page.evaluate(
            """() => {
              const el = document.querySelector('fibro-chat').shadowRoot.activeElement;
              return el ? {tag: el.tagName.toLowerCase(), cls: el.className, id: el.id,
                           text: el.textContent} : {tag: '', cls: '', id: '', text: ''};
            }"""
        )
        return result

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    t = Tab(browser, viewport={"width": 1100, "height": 760})
    yield t
    t.close()


def _csp_refusals(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e or "Refused to" in e]


# ---- files and HTTP ---------------------------------------------------------------------------


def test_widget_is_small_and_static(live_app: LiveServer) -> None:
    """At most 30 KB gzipped, no eval or HTML insertion, served as JavaScript."""
    source = (WIDGET_DIR / "widget.js").read_bytes()
    size = len(gzip.compress(source, 9))
    print(f"\nwidget.js: {len(source)} bytes, {size} bytes gzipped (limit {MAX_GZIP_BYTES})")
    assert size <= MAX_GZIP_BYTES
    text = source.decode()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
        assert banned not in text, banned
    assert "document.write" not in text

    js = HTTP.get(live_app.url + "/widget.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.content == source
    page = HTTP.get(live_app.url + "/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == DEMO_CSP
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts and all("src=" in s for s in scripts), "the demo page has no inline script"
    assert "style=" not in page.text


def test_disallowed_origin_is_refused(widget_app: LiveServer, host: HostSite) -> None:
    """Origin checked on the server (a 403 before anything runs) as well as through CORS."""
    url = widget_app.url + "/v1/answer/stream"
    body = {"question": CRISIS}
    evil = {"origin": "http://evil.example"}
    for endpoint in ("/v1/answer/stream", "/v1/answer"):
        refused = HTTP.post(widget_app.url + endpoint, json=body, headers=evil)
        assert refused.status_code == 403, endpoint
        assert refused.json()["error"]["type"] == "forbidden"
        assert "access-control-allow-origin" not in refused.headers
    assert HTTP.post(url, json=body, headers={"origin": "null"}).status_code == 403
    preflight = HTTP.options(
        url,
        headers={
            **evil,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-client-id",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers

    allowed = HTTP.post(url, json=body, headers={"origin": host.origin})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == host.origin
    same = HTTP.post(url, json=body, headers={"origin": widget_app.url})
    assert same.status_code == 200, "the service's own pages (the demo) are always allowed"
    assert HTTP.post(url, json=body).status_code == 200, "no Origin (curl, API clients): as before"


def test_widget_traffic_is_rate_limited(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    """Widget questions per session are limited (429, Retry-After); crisis replies never are."""
    settings = _app_settings(corpus_settings, session_rate_per_minute=2, rate_burst=2)
    with LiveServer(create_app(settings, corpus_pipeline)) as server:
        url = server.url + "/v1/answer"
        widget = {"x-fibro-channel": "widget", "x-client-id": "patient-1"}
        for _ in range(2):
            assert HTTP.post(url, json={"question": QUESTION}, headers=widget).status_code == 200
        limited = HTTP.post(url, json={"question": QUESTION}, headers=widget)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["type"] == "rate_limited"
        stream = HTTP.post(url + "/stream", json={"question": QUESTION}, headers=widget)
        assert stream.status_code == 429
        crisis = HTTP.post(url, json={"question": CRISIS}, headers=widget)
        assert crisis.status_code == 200 and crisis.json()["route"] == "crisis"
        other = {**widget, "x-client-id": "patient-2"}
        assert HTTP.post(url, json={"question": QUESTION}, headers=other).status_code == 200
        # No session (no X-Client-Id, no session_id): only the per-address limit, which is off.
        assert HTTP.post(url, json={"question": QUESTION}).status_code == 200


# ---- in the browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_ask_cite_follow_up_and_feedback(widget_app: LiveServer, tab: Tab) -> None:
    """Streamed sentences with citation buttons, a quote on demand, history, thumbs."""
    page = tab.page
    page.goto(widget_app.url + "/")
    launcher = tab.chat(".launcher")
    assert launcher.get_attribute("aria-expanded") == "false"
    tab.open()
    assert launcher.get_attribute("aria-expanded") == "true"
    assert tab.active()["id"] == "question", "focus moves into the panel on open"

    message = tab.ask(QUESTION)
    # The extractive composer is deterministic: the same question over plain HTTP gives the
    # events the browser read (its fetch stream's body is not kept by the devtools protocol).
    reference = HTTP.post(widget_app.url + "/v1/answer/stream", json={"question": QUESTION})
    events = parse_sse(reference.text)
    deltas = [data["text"] for name, data in events if name == "delta"]
    citations = next(data["citations"] for name, data in events if name == "citations")
    # One paragraph per streamed sentence, in order, with its markers as buttons.
    shown = message.locator("p:not(.disclaimer)").all_inner_texts()
    assert len(deltas) >= 2 and len(shown) == len(deltas)
    for text, delta in zip(shown, deltas, strict=True):
        assert text.removeprefix("Please note: ") == delta
    assert tab.chat('[role="log"]').count() == 1
    cites = message.locator(".cite")
    assert cites.count() >= 2
    assert cites.first.get_attribute("aria-label") == f"Source 1: {citations[0]['title']}"
    assert message.locator(".disclaimer").inner_text().startswith("This is general information")

    cites.first.click()
    source = message.locator(".source")
    source.wait_for()
    assert source.locator("blockquote").inner_text() == f"“{citations[0]['quote']}”"
    assert source.locator("h3").inner_text() == f"[1] {citations[0]['title']}"
    assert source.locator(".meta").inner_text()
    links = source.locator("a")
    if citations[0]["url"]:
        assert links.get_attribute("href") == citations[0]["url"]
    else:
        assert links.count() == 0
    assert cites.first.get_attribute("aria-expanded") == "true"

    if os.environ.get("FIBRO_WRITE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    with page.expect_request("**/v1/answer/stream") as request_info:
        follow = tab.ask(FOLLOW_UP)
    sent = request_info.value.post_data_json
    assert [t["role"] for t in sent["history"]] == ["user", "assistant"]
    assert sent["history"][0]["content"] == QUESTION
    assert sent["session_id"]
    assert follow.locator("p").count() >= 1
    assert request_info.value.headers["x-fibro-channel"] == "widget"

    with page.expect_response("**/v1/feedback") as feedback:
        message.get_by_role("button", name="Helpful", exact=True).click()
    if feedback.value.status < 300:
        message.get_by_text("Thank you for your feedback.").wait_for()
        assert feedback.value.request.post_data_json["channel"] == "widget"

    # The conversation survives a reload (sessionStorage) and "New conversation" clears it.
    page.reload()
    tab.open()
    assert tab.chat(".user").count() == 2
    tab.chat(".new").click()
    assert tab.chat(".msg").count() == 0
    page.reload()
    tab.open()
    assert tab.chat(".msg").count() == 0
    assert _csp_refusals(tab.errors) == [], "the widget runs under the demo page's strict CSP"


@pytest.mark.browser
def test_crisis_shows_banner_with_call_links(widget_app: LiveServer, tab: Tab) -> None:
    tab.page.goto(widget_app.url + "/")
    tab.open()
    tab.ask(CRISIS)
    banner = tab.chat(".crisis")
    assert banner.is_visible()
    assert banner.get_attribute("role") == "alert"
    hrefs = [a.get_attribute("href") for a in banner.locator("a").all()]
    for number in ("tel:116123", "tel:988", "tel:999", "tel:112", "tel:911", "tel:18002221222"):
        assert number in hrefs
    above = banner.bounding_box()
    log = tab.chat('[role="log"]').bounding_box()
    assert above and log and above["y"] < log["y"], "the banner comes before the conversation"


@pytest.mark.browser
def test_keyboard_only(widget_app: LiveServer, tab: Tab) -> None:
    """Reach, ask, open a source, close it and the panel with the keyboard alone."""
    page = tab.page
    page.goto(widget_app.url + "/")
    for _ in range(15):
        page.keyboard.press("Tab")
        if tab.active()["cls"] == "launcher":
            break
    assert tab.active()["cls"] == "launcher"
    page.keyboard.press("Enter")
    assert tab.active()["id"] == "question"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    tab.chat(".bot .feedback").wait_for()
    for _ in range(40):
        page.keyboard.press("Shift+Tab")
        if tab.active()["cls"] == "cite":
            break
    assert tab.active()["cls"] == "cite"
    page.keyboard.press("Enter")
    assert tab.active()["cls"] == "source", "focus moves to the opened source"
    page.keyboard.press("Escape")
    assert tab.chat(".source").count() == 0
    assert tab.active()["cls"] == "cite", "focus returns to its citation button"
    page.keyboard.press("Escape")
    assert tab.chat(".panel").is_hidden()
    assert tab.active()["cls"] == "launcher"
    assert tab.chat(".launcher").get_attribute("aria-expanded") == "false"


@pytest.mark.browser
def test_axe_reports_no_violations(widget_app: LiveServer, tab: Tab) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    tab.page.goto(widget_app.url + "/")
    tab.open()
    message = tab.ask(QUESTION)
    message.locator(".cite").first.click()
    tab.ask(CRISIS)
    results = axe.run(tab.page, context="fibro-chat")
    assert results.violations_count == 0, results.generate_report()
    page_results = axe.run(tab.page)
    assert page_results.violations_count == 0, page_results.generate_report()


@pytest.mark.browser
def test_hostile_host_css_changes_nothing(
    widget_app: LiveServer, host: HostSite, browser: Any
) -> None:
    """Same boxes and fonts on a plain page and on a page whose CSS attacks everything."""
    plain_url = host.page("/plain.html", widget_app.url)
    hostile_url = host.page("/hostile.html", widget_app.url, css=HOSTILE_CSS)
    parts = [".launcher", ".panel", ".head h2", "textarea", ".send", ".new", ".intro"]

    def layout(url: str) -> tuple[list[Any], list[Any], Tab]:
        t = Tab(browser, viewport={"width": 1100, "height": 760})
        t.page.goto(url)
        t.open()
        # The panel rises into place; measure where it settles.
        t.page.evaluate(
            "Promise.all(document.querySelector('fibro-chat').shadowRoot.getAnimations()"
            ".map(a => a.finished))"
        )
        boxes = [t.chat(p).bounding_box() for p in parts]
        styles = t.page.evaluate(
            """(parts) => parts.map(p => {
                 const el = document.querySelector('fibro-chat').shadowRoot.querySelector(p);
                 const s = getComputedStyle(el);
                 return [s.fontSize, s.fontFamily, s.color, s.backgroundColor, s.letterSpacing,
                         s.textTransform, s.lineHeight, s.padding];
               })""",
            parts,
        )
        return boxes, styles, t

    plain_boxes, plain_styles, plain = layout(plain_url)
    plain.close()
    hostile_boxes, hostile_styles, hostile = layout(hostile_url)
    try:
        assert hostile_boxes == plain_boxes
        assert hostile_styles == plain_styles
        # Cross-origin from the host site, through CORS and the documented CSP: it answers.
        message = hostile.ask(QUESTION)
        assert message.locator(".cite").count() >= 1
        assert _csp_refusals(hostile.errors) == []
    finally:
        hostile.close()


@pytest.mark.browser
def test_phone_screen_and_reduced_motion(widget_app: LiveServer, browser: Any) -> None:
    t = Tab(browser, viewport={"width": 360, "height": 740}, reduced_motion="reduce")
    try:
        t.page.goto(widget_app.url + "/")
        t.open()
        for part in (".panel", "textarea", ".send", ".close", ".new"):
            box = t.chat(part).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, part
        assert t.page.evaluate("document.documentElement.scrollWidth") <= 360
        animation = t.page.evaluate(
            "getComputedStyle(document.querySelector('fibro-chat').shadowRoot"
            ".querySelector('.panel')).animationName"
        )
        assert animation == "none"
        message = t.ask(QUESTION)
        assert message.bounding_box()["width"] <= 360  # type: ignore[index]
    finally:
        t.close()


def _holding_slot(server: LiveServer) -> Any:
    return server.app.state.gate.slot()  # type: ignore[attr-defined]


@pytest.mark.browser
def test_stop_aborts_the_stream(slow_app: LiveServer, host: HostSite, tab: Tab) -> None:
    """While the answer waits for a slot, Stop aborts the request and frees the composer."""
    page = tab.page
    page.goto(host.page("/stop.html", slow_app.url))
    tab.open()
    failed: list[str] = []
    page.on(
        "requestfailed",
        lambda r: failed.append(r.failure or "") if "/v1/answer/stream" in r.url else None,
    )
    with _holding_slot(slow_app):
        tab.chat("textarea").fill(QUESTION)
        tab.chat(".send").click()
        stop = tab.chat(".stop")
        stop.wait_for(state="visible")
        assert tab.active()["cls"].endswith("stop"), "focus follows Send to Stop"
        time.sleep(0.3)
        stop.click()
        tab.chat(".send").wait_for(state="visible")
        _wait(lambda: bool(failed))
        assert "ABORTED" in failed[0].upper()
        assert tab.chat(".status").inner_text() == "Stopped."
        assert tab.active()["id"] == "question"


@pytest.mark.browser
def test_dead_connection_times_out_and_retry_answers(
    slow_app: LiveServer, host: HostSite, tab: Tab
) -> None:
    page = tab.page
    page.goto(host.page("/retry.html", slow_app.url, data='data-timeout="3"'))
    tab.open()
    with _holding_slot(slow_app):
        tab.chat("textarea").fill(QUESTION)
        tab.chat("textarea").press("Enter")
        tab.chat(".retry").wait_for()
        assert "stopped responding" in tab.chat(".status").inner_text()
    tab.chat(".retry").click()
    tab.chat(".bot .feedback").wait_for()
    assert tab.chat(".user").count() == 1, "a retry does not repeat the question"
    assert tab.chat(".bot .cite").count() >= 1


def _wait(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
