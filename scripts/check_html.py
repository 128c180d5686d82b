"""Check the built book the way a reader sees it: in headless Chromium.

    python scripts/check_html.py [--site _build/html] [--toc _toc.yml]
                                 [--build-log _build/book-build.log]
                                 [--screenshot book/results --screenshot ...]

For every page in the TOC (_toc.yml):
  * static checks (pure Python, no browser): the page was built; no Sphinx
    'system-message' / 'problematic' elements (what docutils leaves in place of markup it
    could not parse); every local link (<a href>, with or without #anchor, relative or
    '#anchor' alone) names a file that exists in the site and, for .html targets, an
    element id (or <a name>) that exists in that file;
  * browser checks: the page loads in headless Chromium; every <img> loaded
    (naturalWidth > 0 once the page and its images finished loading; an SVG without an
    intrinsic size may have naturalWidth 0, so for SVGs a failed img.decode() is what
    counts); no local file the page requests (CSS, JS, fonts, images) fails to load; no raw
    TeX delimiters ('\\(', '\\)', '\\[', '\\]', '$$', '\\begin{', '$...\\cmd...$') in the
    visible text outside code (pre, code, .highlight), checked after MathJax finished, so
    math that did not render fails; no formula MathJax could not typeset (error box, or an
    undefined macro shown as red '\\name').
Screenshots (1280x2400 viewport) of the --screenshot pages that are in the TOC go to
_build/screenshots/<page>.png (CI artefacts); it fails if none of them is in the TOC.
With --build-log, any 'WARNING' line of the Sphinx build fails too (even without -W).

How the browser is driven: the Chrome DevTools Protocol over --remote-debugging-pipe
(Chromium reads JSON commands from fd 3 and writes replies and events to fd 4, each
message ending in a NUL byte). That needs nothing beyond the standard library (no
websocket package, no free TCP port to find, no port other processes could talk to), and
unlike --dump-dom/--screenshot runs it can wait for load events, run the checks in the page
after MathJax and the images finished, and see failed requests. One Chromium process,
with a temporary profile, checks all pages, one tab each.

Requests to other hosts are made to fail at once (--host-resolver-rules): the result is the
same with or without network, and it is what an offline reader sees; a page that needs
a CDN to render (MathJax from cdn.jsdelivr.net) fails through the raw-TeX check.

Prints a JSON summary (--json PATH writes it too). Exit status: 0 all checks passed,
1 a check failed (each problem is printed as 'page: problem'), 2 Chromium is missing
(the message says how to install it).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import fnmatch
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCREENSHOTS = ["book/results", "book/week01_noisy_mnist"]
WINDOW = (1280, 2400)
INSTALL_HINT = (
    "make install-chromium   (or: apt-get update && apt-get install -y chromium; "
    "or set CHROMIUM=/path/to/chromium)"
)
CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    # /dev/shm is often tiny in containers; Chromium then crashes on large pages.
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Offline, and the same whether or not CI has network (see the module docstring).
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
    "--remote-debugging-pipe",
]
WARNING_RE = re.compile(r"\bWARNING\b")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Link targets that are not files of the site.
EXTERNAL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


SCRIPT_FILLED = "<src set by a script>"


class CheckError(Exception):
    """The checker could not run (as opposed to a check that failed)."""


@dataclass
class PageReport:
    page: str  # TOC name, e.g. book/week01_noisy_mnist
    path: Path  # the .html file
    problems: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- TOC


def toc_pages(toc_path: Path, site: Path) -> list[str]:
    """Pages of a jb-book / jb-article _toc.yml, in order, without extension.

    'glob' entries are expanded against the built site; 'url' entries are external.
    """
    toc = yaml.safe_load(Path(toc_path).read_text()) or {}
    pages: list[str] = []

    def strip(name: str) -> str:
        name = str(name).strip().lstrip("./")
        return re.sub(r"\.(md|ipynb|rst|myst|txt)$", "", name)

    def add(name: str) -> None:
        if name not in pages:
            pages.append(name)

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if "file" in node:
            add(strip(node["file"]))
        if "glob" in node:
            pattern = strip(node["glob"])
            for html in sorted(site.rglob("*.html")):
                name = html.relative_to(site).with_suffix("").as_posix()
                if fnmatch.fnmatch(name, pattern):
                    add(name)
        for key in ("parts", "chapters", "sections", "entries", "subtrees"):
            if key in node:
                walk(node[key])

    if "root" in toc:
        add(strip(toc["root"]))
    walk(toc)
    if not pages:
        raise CheckError(f"{toc_path}: no pages found (no 'root' nor 'file' entries)")
    return pages


# --------------------------------------------------------------------------- static


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.sphinx_problems: list[str] = []
        self._capture: list[str] | None = None
        self._capture_depth = 0
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self._depth += 1
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "img":
            # matplotlib's JavaScript animation (to_jshtml) sets each frame's src from a
            # script: only the browser pass below can tell whether it decodes
            if not a.get("src") and a.get("id", "").startswith("_anim_img"):
                self.images.append(SCRIPT_FILLED)
            else:
                self.images.append(a.get("src", ""))
        classes = a.get("class", "").split()
        if ("system-message" in classes or "problematic" in classes) and self._capture is None:
            self._capture = [f"<{tag} class=\"{a.get('class')}\">"]
            self._capture_depth = self._depth
        if tag in ("img", "br", "hr", "meta", "link", "input", "source", "wbr", "col"):
            self._depth -= 1  # void elements have no end tag

    def handle_endtag(self, tag):
        if self._capture is not None and self._depth == self._capture_depth:
            text = " ".join(" ".join(self._capture).split())
            self.sphinx_problems.append(text[:300])
            self._capture = None
        self._depth -= 1

    def handle_data(self, data):
        if self._capture is not None:
            self._capture.append(data)


def parse_html(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def check_links(site: Path, page_file: Path, links: list[str], cache: dict) -> list[str]:
    """Problems with the local links of one page: missing files, missing anchors."""
    problems = []
    site = site.resolve()
    for href in links:
        href = href.strip()
        if not href or href == "#" or EXTERNAL_RE.match(href):
            continue
        parts = urlsplit(href)
        target_path, fragment = unquote(parts.path), unquote(parts.fragment)
        if target_path:
            target = (page_file.parent / target_path).resolve()
        else:
            target = page_file.resolve()
        try:
            target.relative_to(site)
        except ValueError:
            problems.append(f"link {href!r} points outside the site ({target})")
            continue
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link {href!r}: {target.relative_to(site)} does not exist")
            continue
        if fragment and target.suffix == ".html":
            if target not in cache:
                cache[target] = parse_html(target).ids
            if fragment not in cache[target]:
                problems.append(
                    f"broken link {href!r}: no id {fragment!r} in {target.relative_to(site)}"
                )
    return problems


def static_checks(site: Path, pages: list[str]) -> list[PageReport]:
    reports = []
    id_cache: dict[Path, set[str]] = {}
    for page in pages:
        path = site / f"{page}.html"
        report = PageReport(page, path)
        reports.append(report)
        if not path.is_file():
            report.problems.append(f"in the TOC but not built: {path} does not exist")
            continue
        parsed = parse_html(path)
        id_cache[path.resolve()] = parsed.ids
        for problem in parsed.sphinx_problems:
            report.problems.append(f"Sphinx error markup in the page: {problem}")
        report.problems += check_links(site, path, parsed.links, id_cache)
        for src in parsed.images:
            if src == SCRIPT_FILLED:
                continue
            if not src:
                report.problems.append("<img> without src")
            elif not EXTERNAL_RE.match(src) and not src.startswith("data:"):
                if not (path.parent / unquote(urlsplit(src).path)).is_file():
                    report.problems.append(f"broken image {src!r}: file does not exist")
        report.info["links"] = len(parsed.links)
        report.info["images_in_html"] = len(parsed.images)
    return reports


def build_log_warnings(log: Path) -> list[str]:
    lines = ANSI_RE.sub("", log.read_text(encoding="utf-8", errors="replace")).splitlines()
    return [line.strip() for line in lines if WARNING_RE.search(line)]


# --------------------------------------------------------------------------- browser


def find_chromium(explicit: str | None = None) -> str | None:
    for candidate in [explicit, os.environ.get("CHROMIUM")]:
        if candidate:
            return shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """Minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="check-html-profile-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Move the child's ends above fd 10, so dup2 onto 3 and 4 cannot clobber them.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def child_fds():  # in the child, before exec: fd 3 in, fd 4 out (inheritable)
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.stderr = tempfile.TemporaryFile()
        # Chromium's helper processes outlive the browser process by a moment; made children
        # of this process, they are reaped in close() instead of left as zombies where PID 1
        # does not reap (containers without an init).
        _child_subreaper(True)
        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            # Not close_fds/pass_fds: those would check that fds 3 and 4 are open here.
            # Python's own descriptors are close-on-exec, so only stdio, 3 and 4 pass.
            close_fds=False,
            preexec_fn=child_fds,
        )
        os.close(child_in)
        os.close(child_out)
        self._write = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._read_fd = from_chrome_r
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._inbox: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        try:
            self.version = self.call("Browser.getVersion", timeout=30)["product"]
        except CheckError as exc:
            self.close()
            raise CheckError(f"Chromium did not answer on the DevTools pipe: {exc}") from exc

    def _read_loop(self) -> None:
        buffer = b""
        with os.fdopen(self._read_fd, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    self._inbox.put(None)
                    return
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._inbox.put(json.loads(message))

    def _pump(self, deadline: float) -> bool:
        """Move one message from the pipe into replies/events; False on timeout."""
        try:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if message is None:
            raise CheckError(f"Chromium exited (status {self.proc.poll()}): {self.stderr_tail()}")
        if "id" in message:
            self._replies[message["id"]] = message
        else:
            self._events.append(message)
        return True

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write.write(json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method, params=None, session=None, timeout=None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        call_id = self.send(method, params, session)
        while call_id not in self._replies:
            if not self._pump(deadline):
                raise CheckError(f"no reply to {method} within {timeout or self.timeout:.0f} s")
        reply = self._replies.pop(call_id)
        if "error" in reply:
            raise CheckError(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    def take_events(self, session: str) -> list[dict]:
        mine = [e for e in self._events if e.get("sessionId") == session]
        # the rest of this tab's events, and the browser's own (no session), are not needed
        self._events = [e for e in self._events if e.get("sessionId") not in (session, None)]
        return mine

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close")
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
                    self.proc.wait()
        finally:
            try:
                self._write.close()
            except OSError:
                pass
            _reap_orphans(Path(self.proc.args[0]).name, timeout=5.0)
            _child_subreaper(False)
            shutil.rmtree(self.profile, ignore_errors=True)


def _child_subreaper(on: bool) -> None:
    """Linux prctl(PR_SET_CHILD_SUBREAPER); elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_orphans(name: str, timeout: float) -> None:
    """Wait for the Chromium helpers re-parented to this process (no other children)."""
    deadline = time.monotonic() + timeout
    me = str(os.getpid())
    while time.monotonic() < deadline:
        pending = 0
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                status = (proc / "status").read_text()
                comm = (proc / "comm").read_text().strip()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            # the browser's own name, or chrome_crashpad (the crash handler it starts)
            if fields.get("PPid", "").strip() != me or not (
                name.startswith(comm[:15]) or comm.startswith("chrome")
            ):
                continue
            try:
                pid, _ = os.waitpid(int(proc.name), os.WNOHANG)
            except ChildProcessError:
                continue
            pending += pid == 0
        if not pending:
            return
        time.sleep(0.1)


# Runs in the page once the load event fired. Returns a JSON string.
IN_PAGE_CHECK = r"""
(async () => {
  const withTimeout = (promise, ms) =>
    Promise.race([promise, new Promise(resolve => setTimeout(() => resolve('timeout'), ms))]);
  // Lazy images below the viewport would never load in a headless check.
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  const decoded = await Promise.all(images.map(img =>
    withTimeout(img.decode().then(() => true, () => false), 15000)));
  // Let MathJax (2 or 3) finish typesetting before looking at the text.
  let mathjax = 'none';
  if (window.MathJax && window.MathJax.Hub && window.MathJax.Hub.Queue) {
    mathjax = 'MathJax ' + (window.MathJax.version || '2');
    const r = await withTimeout(new Promise(resolve => window.MathJax.Hub.Queue(resolve)), 20000);
    if (r === 'timeout') mathjax += ' (timed out)';
  } else if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    mathjax = 'MathJax ' + (window.MathJax.version || '3');
    const r = await withTimeout(window.MathJax.startup.promise, 20000);
    if (r === 'timeout') mathjax += ' (timed out)';
  } else if (document.querySelector('script[src*="MathJax"], script[src*="mathjax"]')) {
    mathjax = 'MathJax script did not load';
  }
  const broken = [];
  images.forEach((img, i) => {
    const src = img.currentSrc || img.src || img.getAttribute('src') || '';
    const svg = /\.svg([?#]|$)/i.test(src) || src.startsWith('data:image/svg');
    if (!decoded[i] || (img.naturalWidth === 0 && !svg)) {
      broken.push({src: img.getAttribute('src'), naturalWidth: img.naturalWidth,
                   decoded: decoded[i] === true});
    }
  });
  // Visible text outside code: text nodes whose element is rendered, not in code.
  const skip = 'pre, code, kbd, samp, script, style, textarea, noscript, .highlight, ' +
               '.MathJax_Preview, mjx-container, .MathJax, .MathJax_Display, .MathJax_SVG';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const chunks = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    chunks.push(node.nodeValue);
  }
  const text = chunks.join('');
  // One snippet per stretch of text: '\\(' and its '\\)' are one finding, not two.
  const patterns = [/\\\(/g, /\\\)/g, /\\\[/g, /\\\]/g, /\$\$/g, /\\begin\{/g,
                    /\$[^$\n]{0,80}?\\[A-Za-z]+[^$\n]{0,80}?\$/g];
  const hits = [];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) hits.push([m.index, m.index + m[0].length]);
  }
  hits.sort((a, b) => a[0] - b[0]);
  const tex = [];
  let covered = -1;
  for (const [start, end] of hits) {
    if (start < covered) continue;
    covered = end + 40;
    tex.push(text.slice(Math.max(0, start - 40), covered).replace(/\s+/g, ' ').trim());
  }
  // TeX that MathJax could not typeset: an error box (2: noErrors/merror, 3: mjx-merror),
  // or an undefined macro, which the noUndefined extension shows as red '\\name' text.
  const mathErrors = [];
  document.querySelectorAll('.MathJax, .MathJax_SVG, mjx-container').forEach(el => {
    if (!(el.querySelector('.noError, .merror, mjx-merror') || /\\[A-Za-z]+/.test(el.textContent)))
      return;
    const source = el.id && document.getElementById(el.id.replace(/-Frame$/, ''));
    mathErrors.push(((source && source !== el ? source.textContent : el.textContent) || '')
                    .trim().slice(0, 120));
  });
  return JSON.stringify({
    title: document.title,
    images: images.length,
    broken_images: broken,
    raw_tex: Array.from(new Set(tex)),
    mathjax: mathjax,
    math_elements: document.querySelectorAll('.math').length,
    system_messages: document.querySelectorAll('.system-message, .problematic').length,
    math_errors: mathErrors,
    text_length: text.length,
  });
})()
"""


def wait_loaded(browser: Browser, session: str, url: str, deadline: float) -> bool:
    """Poll until the tab shows `url` with its load event done (readyState 'complete').

    Polling rather than waiting for Page.loadEventFired: that event carries no URL, and
    the tab's first about:blank fires one too.
    """
    probe = "document.readyState + ' ' + location.href"
    while time.monotonic() < deadline:
        try:
            result = browser.call(
                "Runtime.evaluate", {"expression": probe, "returnByValue": True},
                session=session, timeout=max(1.0, deadline - time.monotonic()),
            )
            state, _, href = str(result.get("result", {}).get("value", "")).partition(" ")
            if state == "complete" and unquote(href.split("#")[0]) == unquote(url):
                return True
        except CheckError:
            pass  # the context is being replaced by the navigation
        time.sleep(0.05)
    return False


def browser_check(
    browser: Browser, report: PageReport, screenshot: Path | None, load_timeout: float = 60.0
) -> None:
    url = report.path.resolve().as_uri()
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    try:
        for domain in ("Page", "Network", "Runtime"):
            browser.call(f"{domain}.enable", session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        started = time.monotonic()
        nav = browser.call("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            report.problems.append(f"does not load: {nav['errorText']}")
            return
        if not wait_loaded(browser, session, url, started + load_timeout):
            report.problems.append(f"did not finish loading within {load_timeout:.0f} s")
            return
        result = browser.call(
            "Runtime.evaluate",
            {"expression": IN_PAGE_CHECK, "awaitPromise": True, "returnByValue": True},
            session=session,
            timeout=load_timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CheckError(
                f"{report.page}: in-page check failed: {details.get('text')} "
                f"{details.get('exception')}"
            )
        found = json.loads(result["result"]["value"])
        report.info["load_s"] = round(time.monotonic() - started, 2)

        for img in found["broken_images"]:
            report.problems.append(
                f"broken image {img['src']!r} (naturalWidth {img['naturalWidth']}, "
                f"decoded {img['decoded']})"
            )
        raw_tex = found["raw_tex"]
        for snippet in raw_tex[:5]:
            report.problems.append(f"raw TeX in the visible text ({found['mathjax']}): ...{snippet}...")
        if len(raw_tex) > 5:
            report.problems.append(f"raw TeX: {len(raw_tex) - 5} more places like these")
        for tex in found["math_errors"][:5]:
            report.problems.append(f"MathJax could not typeset: {tex!r}")
        if found["system_messages"]:
            report.problems.append(
                f"{found['system_messages']} Sphinx system-message/problematic elements"
            )
        # Requests: local files that failed are problems, other hosts are listed only.
        requested, failed_local, failed_remote, js_errors = {}, [], [], []
        for event in browser.take_events(session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                requested[params["requestId"]] = params["request"]["url"]
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                failed_url = requested.get(params["requestId"], "?")
                if failed_url.startswith(("about:", "data:", "blob:")):
                    continue  # frames MathJax/the theme create; nothing is fetched
                entry = f"{failed_url} ({params.get('errorText')})"
                (failed_local if failed_url.startswith("file:") else failed_remote).append(entry)
            elif method == "Network.responseReceived":
                status = params["response"].get("status", 0)
                if params["response"]["url"].startswith("file:") and status >= 400:
                    failed_local.append(f"{params['response']['url']} (status {status})")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                js_errors.append(
                    (details.get("exception") or {}).get("description", details.get("text", ""))[:200]
                )
        for entry in failed_local:
            report.problems.append(f"a file the page needs failed to load: {entry}")
        report.info.update(
            images=found["images"],
            math=found["math_elements"],
            mathjax=found["mathjax"],
            requests=len(requested),
        )
        if failed_remote:
            report.info["offline_requests"] = failed_remote
        if js_errors:
            report.info["js_errors"] = js_errors

        if screenshot is not None:
            shot = browser.call(
                "Page.captureScreenshot", {"format": "png"}, session=session, timeout=load_timeout
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            report.info["screenshot"] = str(screenshot)
    finally:
        browser.call("Target.closeTarget", {"targetId": target})


# --------------------------------------------------------------------------- main


def run_checks(
    site: Path,
    toc: Path,
    build_log: Path | None = None,
    screenshot_pages: list[str] | None = None,
    screenshot_dir: Path | None = None,
    chromium: str | None = None,
    use_browser: bool = True,
) -> dict:
    """All checks; returns the summary (its 'ok' is False when a check failed)."""
    site = Path(site)
    if not site.is_dir():
        raise CheckError(f"{site} does not exist: build the book first (make book)")
    pages = toc_pages(Path(toc), site)
    reports = static_checks(site, pages)
    summary: dict = {"site": str(site), "toc": str(toc), "pages": {}, "problems": []}

    if build_log is not None:
        warnings = build_log_warnings(Path(build_log))
        summary["build_log"] = {"path": str(build_log), "warnings": len(warnings)}
        summary["problems"] += [f"{build_log}: Sphinx {line}" for line in warnings]

    shots = screenshot_pages if screenshot_pages is not None else DEFAULT_SCREENSHOTS
    shots = [s.strip().lstrip("./").removesuffix(".html") for s in shots]
    shot_dir = Path(screenshot_dir) if screenshot_dir else site.parent / "screenshots"
    in_toc = [s for s in shots if s in pages]
    if shots and not in_toc:
        summary["problems"].append(
            f"none of the screenshot pages {shots} is in {toc} (pages: {pages})"
        )
    summary["screenshots_not_in_toc"] = [s for s in shots if s not in pages]

    if use_browser:
        executable = find_chromium(chromium)
        if executable is None:
            raise FileNotFoundError("Chromium")
        started = time.monotonic()
        browser = Browser(executable)
        summary["browser"] = browser.version
        try:
            for report in reports:
                if not report.path.is_file():
                    continue
                shot = shot_dir / f"{report.page}.png" if report.page in in_toc else None
                browser_check(browser, report, shot)
        finally:
            browser.close()
        summary["browser_s"] = round(time.monotonic() - started, 2)

    for report in reports:
        summary["pages"][report.page] = {"problems": report.problems, **report.info}
        summary["problems"] += [f"{report.page}: {p}" for p in report.problems]
    summary["ok"] = not summary["problems"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--toc", type=Path, default=REPO / "_toc.yml")
    parser.add_argument("--build-log", type=Path, help="Sphinx/jupyter-book build output to scan")
    parser.add_argument(
        "--screenshot",
        action="append",
        metavar="PAGE",
        help=f"TOC page to screenshot (repeatable; default {' '.join(DEFAULT_SCREENSHOTS)})",
    )
    parser.add_argument("--screenshot-dir", type=Path, help="default: <site>/../screenshots")
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM, then PATH)")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)

    if args.build_log is not None and not args.build_log.is_file():
        print(f"check_html: build log {args.build_log} does not exist", file=sys.stderr)
        return 1
    try:
        summary = run_checks(
            args.site,
            args.toc,
            build_log=args.build_log,
            screenshot_pages=args.screenshot,
            screenshot_dir=args.screenshot_dir,
            chromium=args.chromium,
        )
    except FileNotFoundError as exc:
        if str(exc) != "Chromium":
            raise
        print(f"check_html: Chromium not found. Install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    except CheckError as exc:
        print(f"check_html: FAILED: {exc}", file=sys.stderr)
        return 1

    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if not summary["ok"]:
        print(f"\ncheck_html: FAILED, {len(summary['problems'])} problem(s):", file=sys.stderr)
        for problem in summary["problems"]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    n_pages = len(summary["pages"])
    print(f"check_html: OK, {n_pages} pages ({summary.get('browser', 'no browser')})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
