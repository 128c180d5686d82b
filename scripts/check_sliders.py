"""Check the explorer chapter's sliders in headless Chromium, on the built book.

    python scripts/check_sliders.py [--site _build/html] [--page book/explore_models]
                                    [--json _build/check-sliders.json] [--screenshots _build/screenshots]

Every explorer block (``.stnx``) of the page is checked three ways:

* **served over http** (``python -m http.server`` on 127.0.0.1, a child process): the live
  layer must start (onnxruntime-web and every exported model load); the scene the page
  composes in JavaScript must equal ``stnutils``' scene (``NoisyMNIST128``, computed here)
  to float tolerance for a sweep of digits, seeds, offsets, contrasts and noise levels; the
  page's polar sliders must give the generator's offsets for every slider position; moving
  a slider with real key presses (``Input.dispatchKeyEvent``) must change the displayed
  scene and the displayed probabilities; at every pre-rendered grid position the
  browser's answers (probabilities and sampled region of each live model) must equal the
  pre-rendered ones;
* **opened from file://**: the page must say so, show the pre-rendered grid, request no
  runtime file, and a key press must show the next pre-rendered state;
* **over http with the runtime blocked** (``Network.setBlockedURLs``): the page must fall
  back to the grid and say why.

No request for a local file may fail (except the one blocked on purpose) and no script
error may come from the explorer. Prints a JSON summary; exit status 0 all passed, 1 a
check failed, 2 Chromium is missing. The Chromium driver (DevTools protocol over pipes) is
scripts/check_html.py's.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_html", Path(__file__).with_name("check_html.py"))
check_html = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_html", check_html)
_spec.loader.exec_module(check_html)

# the resolver rule of check_html sends every host nowhere, IP literals too: let the local server through
FLAGS = [f + " , EXCLUDE 127.0.0.1" if f.startswith("--host-resolver-rules=") else f
         for f in check_html.CHROMIUM_FLAGS]
SCENE_TOL = 1e-6  # |JS scene - stnutils scene|, float32
# |live - pre-rendered| probabilities: float16 weights in the files (the page's download), 4 decimals in
# the table. The quick book's trained fast_atn_aux differed by 0.0021 at one grid point (a sharper
# softmax than the random-weight models of the tests amplifies the rounding), hence 5e-3, still far
# below what a wrong scene or a wrong model gives (0.1 and more).
PROB_TOL = 5e-3
BOX_TOL = 0.06  # px, SVG corner coordinates (2 decimals)
LIVE_TIMEOUT = 120.0


class Failed(Exception):
    """The page cannot be checked further (e.g. the live layer did not start)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(root: Path):
    """``python -m http.server`` serving ``root`` on 127.0.0.1; yields its base URL; stopped by its pid."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise Failed("python -m http.server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Tab:
    """One Chromium tab: navigate, evaluate, key presses, events."""

    KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "ArrowUp": 38, "ArrowDown": 40, "Home": 36, "End": 35}

    def __init__(self, browser, url: str, blocked=()):
        self.b = browser
        self.target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.s = browser.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=self.s)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": False}, session=self.s)
        if blocked:
            browser.call("Network.setBlockedURLs", {"urls": list(blocked)}, session=self.s)
        self.events: list = []
        nav = browser.call("Page.navigate", {"url": url}, session=self.s)
        if nav.get("errorText"):
            raise Failed(f"{url} does not load: {nav['errorText']}")
        if not check_html.wait_loaded(browser, self.s, url, time.monotonic() + 60):
            raise Failed(f"{url} did not finish loading within 60 s")

    def js(self, expression: str, timeout: float = 60.0):
        result = self.b.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                  "returnByValue": True}, session=self.s, timeout=timeout)
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise Failed(f"in-page script failed: {d.get('text')} {(d.get('exception') or {}).get('description')}")
        return result.get("result", {}).get("value")

    def key(self, selector: str, key: str, times: int = 1) -> None:
        """Focus ``selector``, then real key presses (rawKeyDown + keyUp), each an input event of the page."""
        self.js(f"document.querySelector({selector!r}).focus()")
        code = self.KEYS[key]
        for _ in range(times):
            for kind in ("rawKeyDown", "keyUp"):
                self.b.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                       "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code},
                            session=self.s)

    def screenshot(self, path: Path, selector: str = ".stnx") -> None:
        self.js(f"document.querySelector({selector!r}).scrollIntoView()")
        shot = self.b.call("Page.captureScreenshot", {"format": "png"}, session=self.s, timeout=60)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def take(self) -> dict:
        """Requests, failed ones, script errors and console errors since the last call."""
        requested, failed, errors = {}, [], []
        for e in self.b.take_events(self.s):
            method, p = e.get("method"), e.get("params", {})
            if method == "Network.requestWillBeSent":
                requested[p["requestId"]] = p["request"]["url"]
            elif method == "Network.loadingFailed" and not p.get("canceled"):
                failed.append(f"{requested.get(p['requestId'], '?')} ({p.get('errorText')}"
                              f"{', ' + p['blockedReason'] if p.get('blockedReason') else ''})")
            elif method == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
                failed.append(f"{p['response']['url']} (status {p['response']['status']})")
            elif method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                errors.append(((d.get("exception") or {}).get("description") or d.get("text", ""))[:300]
                              + f" [{d.get('url', '')}]")
            elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))[:300])
        self.events.append(requested)
        return {"requests": sorted(set(requested.values())), "failed": failed, "errors": errors}

    def close(self) -> None:
        self.b.call("Target.closeTarget", {"targetId": self.target})


def _ours(message: str) -> bool:
    """A script error or failed request that comes from the explorer (the theme's own are not ours)."""
    return any(word in message for word in ("stnx", "explorer", "ort.", "ort-wasm", "onnx", "STNX"))


ROOT = "document.querySelectorAll('.stnx')[%d]"


def wait_live(tab: Tab, n: int, runs_above: int = -1, timeout: float = LIVE_TIMEOUT) -> dict:
    """Wait until block ``n`` is live and idle after more than ``runs_above`` updates; its status otherwise."""
    deadline = time.monotonic() + timeout
    probe = (f"(() => {{ const x = {ROOT % n}.stnx; return JSON.stringify({{live: !!x.live, failed: !!x.failed, "
             f"error: x.error || null, runs: x.run ? x.run.runs : -1, busy: x.run ? x.run.busy || x.run.pending : true,"
             f" status: {ROOT % n}.querySelector('.stnx-status').innerText}}); }})()")
    while time.monotonic() < deadline:
        st = json.loads(tab.js(probe))
        if st["failed"] or (st["live"] and st["runs"] > runs_above and not st["busy"]):
            return st
        time.sleep(0.05)
    raise Failed(f"block {n} did not become live and idle within {timeout:.0f} s: {st}")


def displayed(tab: Tab, n: int) -> dict:
    """What block ``n`` shows: scene source digest, the truth box, per model its probability texts and box."""
    return json.loads(tab.js(f"""(() => {{ const r = {ROOT % n}, out = {{}};
        for (const p of r.querySelectorAll('.stnx-model')) out[p.dataset.model] = {{
          off: p.classList.contains('stnx-off'),
          probs: Array.from(p.querySelectorAll('.stnx-p')).map(e => e.textContent).join(' '),
          box: p.querySelector('.stnx-box').getAttribute('points'),
          glimpse: p.querySelector('.stnx-glimpse').src.length }};
        const img = r.querySelector('.stnx-scene-img'), patch = r.querySelector('.stnx-patch');
        return JSON.stringify({{scene: img.src.slice(-200) + (patch && !patch.hidden ? patch.src.slice(-200) +
          patch.style.top + patch.style.left : ''), truth: r.querySelector('.stnx-truth').getAttribute('points'),
          status: r.querySelector('.stnx-status').innerText, models: out,
          current: r.stnx.current && {{mode: r.stnx.current.mode, key: r.stnx.current.key}},
          live: r.stnx.current && r.stnx.current.mode === 'live' ? Object.fromEntries(Object.entries(
            r.stnx.current.views).filter(([k, v]) => v.logits).map(([k, v]) => [k, [v.p, v.theta]])) : {{}} }});
        }})()"""))


def js_scene(tab: Tab, n: int, sample: int, i: int, j: int, contrast: float, noise: float):
    import numpy as np

    b64 = tab.js(f"""(() => {{ const L = window.STNX_LIVE, r = {ROOT % n};
        const spec = JSON.parse(r.querySelector('.stnx-spec').textContent);
        const samples = L.samplesOf(window.STNX_DATA[spec.payload]);
        const s = L.composeScene(samples[{sample}], {i}, {j}, {contrast}, {noise});
        const u = new Uint8Array(s.buffer); let t = '';
        for (let p = 0; p < u.length; p += 8192) t += String.fromCharCode.apply(null, u.subarray(p, p + 8192));
        return btoa(t); }})()""")
    return np.frombuffer(base64.b64decode(b64), "<f4").reshape(128, 128)


def composition_checks(tab: Tab, n: int, spec: dict, data_root=None) -> dict:
    """composeScene in the page against stnutils' scene, over digits, seeds, offsets, contrasts, noise levels."""
    import torch

    from stnutils.widgets import Controls, SceneGrid

    states = []
    for k, (digit, seed, _) in enumerate(spec["samples"]):
        for i, j, c, noise in ((0, 0, 0.7, 0.75), (-50, 50, 1.0, 0.75), (50, -50, 0.05, 0.75), (13, -27, 0.3, 1.0),
                               (-7, 31, 0.5, 0.0), (40, 0, 0.35, 0.4)):
            states.append((k, Controls(digit=digit, seed=seed, i=i, j=j, contrast=c, noise=noise)))
    grid = SceneGrid([c for _, c in states], data_root)
    ours, _, _ = grid.batch(range(len(states)))
    worst, exact, problems = 0.0, 0, []
    for (k, c), want in zip(states, ours[:, 0]):
        got = torch.from_numpy(js_scene(tab, n, k, c.i, c.j, c.contrast, c.noise).copy())
        diff = float((got - want).abs().max())
        worst = max(worst, diff)
        exact += bool(torch.equal(got, want))
        if not diff <= SCENE_TOL:
            problems.append(f"composed scene differs from stnutils' by {diff:.3g} at {c}")
    # the polar sliders: every position the live page offers
    pairs = [(r, a) for r in range(0, 51) for a in range(0, 360, 5)]
    got = tab.js(f"JSON.stringify({json.dumps(pairs)}.map(([r, a]) => window.STNX_LIVE.polarOffsets(r, a)))")
    mismatch = [(r, a) for (r, a), o in zip(pairs, json.loads(got)) if tuple(o) != Controls.polar(r, a).offset]
    if mismatch:
        problems.append(f"polarOffsets differs from the generator at {len(mismatch)} positions, e.g. {mismatch[:3]}")
    return {"scenes": len(states), "max_abs": worst, "bit_exact": exact, "polar_positions": len(pairs),
            "polar_mismatches": len(mismatch), "problems": problems}


def set_controls(tab: Tab, n: int, values: dict, runs: int) -> dict:
    """Set slider values (programmatically, one input event) and wait for the live update."""
    tab.js(f"""(() => {{ const r = {ROOT % n};
        for (const [k, v] of Object.entries({json.dumps(values)})) r.stnx.input(k).value = v;
        r.stnx.input('eccentricity').dispatchEvent(new Event('input')); }})()""")
    return wait_live(tab, n, runs)


def grid_checks(tab: Tab, n: int, table: dict, spec: dict) -> dict:
    """At every pre-rendered position, the browser's answers equal the pre-rendered ones."""
    axes = table["axes"]
    tab.js(f"{ROOT % n}.querySelector('select[name=sample]').value = String({_home(spec, table)})")
    tab.js(f"{ROOT % n}.stnx.input('noise').value = {table['fixed']['noise']}")
    worst_p, worst_box, problems, checked = 0.0, 0.0, [], 0
    runs = wait_live(tab, n)["runs"]
    for e in axes["eccentricity"]:
        for d in axes["direction"]:
            for c in axes["contrast"]:
                runs = set_controls(tab, n, {"eccentricity": e, "direction": d, "contrast": c}, runs)["runs"]
                cur = json.loads(tab.js(f"""(() => {{ const x = {ROOT % n}.stnx.current;
                    return JSON.stringify({{key: x.key, onGrid: x.onGrid,
                      views: Object.fromEntries(Object.entries(x.views).map(([k, v]) => [k, {{p: v.p, box: v.box}}]))
                    }}); }})()"""))
                key = f"{e:g}|{d:g}|{c:g}"
                if cur["key"] != key or not cur["onGrid"]:
                    problems.append(f"at {key} the page is at {cur['key']} (on the grid: {cur['onGrid']})")
                    continue
                want = table["states"][table["index"][key]]["views"]
                for name in spec["models"]:
                    got = cur["views"][name]
                    dp = max(abs(a - b) for a, b in zip(got["p"], want[name]["p"]))
                    db = max(abs(float(a) - float(b)) for a, b in zip(
                        got["box"].replace(",", " ").split(), want[name]["box"].replace(",", " ").split()))
                    worst_p, worst_box = max(worst_p, dp), max(worst_box, db)
                    if dp > PROB_TOL or db > BOX_TOL:
                        problems.append(f"{name} at {key}: live probabilities differ by {dp:.2g}, box by {db:.2g} px")
                checked += 1
    return {"positions": checked, "models": list(spec["models"]), "max_prob_diff": worst_p,
            "max_box_diff_px": worst_box, "problems": problems}


def _home(spec: dict, table: dict) -> int:
    fixed = table["fixed"]
    for k, (digit, seed, _) in enumerate(spec["samples"]):
        if digit == fixed["digit"] and seed == fixed["seed"]:
            return k
    raise Failed("the live samples do not include the pre-rendered grid's digit and seed")


def movement_checks(tab: Tab, n: int, live: bool) -> dict:
    """Real key presses on the sliders change the scene and what the models answer.

    From (20 px, 90°, contrast 0.5): eccentricity up, direction up, contrast up, eccentricity
    to 0 (Home); a live page moves in 1 px, 5° and 0.05 steps, so it gets 10, 18 and 4 presses
    (10 px, 90°, 0.2) where the grid gets one (10 px, 90°, 0.2). Each move must change the
    scene shown and what a model answers: on the grid, the probabilities or the sampled
    region shown for at least one model; live, the probabilities or theta that at least one
    of the models running in the page computed (the bars show them to 0.1%).
    """
    problems, steps = [], []
    tab.js(f"""(() => {{ const r = {ROOT % n};
        for (const [k, v] of [['eccentricity', 20], ['direction', 90], ['contrast', 0.5]]) r.stnx.input(k).value = v;
        r.stnx.update(); }})()""")
    ident = _id(tab, n)
    presses = (10, 18, 4) if live else (1, 1, 1)
    moves = tuple(zip(("eccentricity", "direction", "contrast"), ("ArrowRight", "ArrowRight", "ArrowUp"), presses))
    for name, key, presses in moves + (("eccentricity", "Home", 1),):
        runs = wait_live(tab, n)["runs"] if live else None
        before = displayed(tab, n)
        tab.key(f"#{ident} input[name={name}]", key, presses)
        if live:
            wait_live(tab, n, runs)
        else:
            time.sleep(0.2)
        after = displayed(tab, n)
        changed_scene = after["scene"] != before["scene"] or after["truth"] != before["truth"]
        if live:  # the live models' own outputs (the bars show them to 0.1%)
            changed = [m for m, v in after["live"].items() if v != before["live"].get(m)]
        else:
            changed = [m for m, v in after["models"].items()
                       if (v["probs"], v["box"]) != (before["models"][m]["probs"], before["models"][m]["box"])]
        steps.append({"slider": name, "key": key, "presses": presses, "key_after": (after["current"] or {}).get("key"),
                      "scene_changed": changed_scene, "models_whose_answer_changed": changed})
        if not changed_scene:
            problems.append(f"{key} x{presses} on {name}: the scene shown did not change")
        if not changed:
            problems.append(f"{key} x{presses} on {name}: no {'live ' if live else ''}model's answer changed")
    return {"steps": steps, "problems": problems}


def _id(tab: Tab, n: int) -> str:
    return tab.js(f"{ROOT % n}.id")


def table_of(tab: Tab, n: int) -> dict:
    return json.loads(tab.js(f"JSON.stringify({ROOT % n}.stnx.table)"))


def check_http(browser, base: str, page: str, data_root=None, shots=None) -> dict:
    out: dict = {"url": base + page, "blocks": [], "problems": []}
    tab = Tab(browser, base + page)
    try:
        blocks = tab.js("document.querySelectorAll('.stnx').length")
        if not blocks:
            raise Failed(f"{page}: no explorer block (.stnx)")
        for n in range(blocks):
            st = wait_live(tab, n)
            if not st["live"]:
                raise Failed(f"block {n}: the live layer did not start over http: {st['error']} ({st['status']})")
            spec = json.loads(tab.js(f"{ROOT % n}.querySelector('.stnx-spec').textContent"))
            table = table_of(tab, n)
            block = {"status": st["status"], "live_models": list(spec["models"])}
            block["composition"] = composition_checks(tab, n, spec, data_root)
            block["grid"] = grid_checks(tab, n, table, spec)
            block["movement"] = movement_checks(tab, n, live=True)
            block["update_ms"] = tab.js(f"{ROOT % n}.stnx.current.ms")
            for part in ("composition", "grid", "movement"):
                out["problems"] += [f"http block {n}: {p}" for p in block[part]["problems"]]
            out["blocks"].append(block)
        if shots:
            tab.screenshot(shots / "explore_models-http.png")
        events = tab.take()
        out["requests"] = len(events["requests"])
        out["problems"] += [f"http: a request failed: {f}" for f in events["failed"]
                            if not f.endswith("favicon.ico (status 404)")]  # http.server has none
        out["problems"] += [f"http: script error from the explorer: {e}" for e in events["errors"] if _ours(e)]
        out["other_script_errors"] = [e for e in events["errors"] if not _ours(e)]
    finally:
        tab.close()
    return out


def check_file(browser, site: Path, page: str, shots=None) -> dict:
    url = (site / page).resolve().as_uri()
    out: dict = {"url": url, "problems": []}
    tab = Tab(browser, url)
    try:
        time.sleep(0.3)
        first = displayed(tab, 0)
        out["status"] = first["status"]
        if "file://" not in first["status"]:
            out["problems"].append(f"file://: the page does not say it was opened from a file: {first['status']!r}")
        if (first["current"] or {}).get("mode") != "static":
            out["problems"].append(f"file://: not on the pre-rendered grid: {first['current']}")
        table = table_of(tab, 0)
        move = movement_checks(tab, 0, live=False)
        out["movement"] = move
        out["problems"] += [f"file://: {p}" for p in move["problems"]]
        now = displayed(tab, 0)
        key = (now["current"] or {}).get("key")
        want = table["states"][table["index"][key]]["views"] if key in table["index"] else None
        if want is None:
            out["problems"].append(f"file://: the sliders point at {key!r}, not a grid position")
        else:
            for name, view in now["models"].items():
                text = " ".join(f"{100 * p:.1f}%" for p in want[name]["p"])
                if view["probs"] != text:
                    out["problems"].append(f"file://: {name} at {key} shows {view['probs']!r}, pre-rendered {text!r}")
        if shots:
            tab.screenshot(shots / "explore_models-file.png")
        events = tab.take()
        runtime = [r for r in events["requests"] if "_static/explorer" in r]
        if runtime:
            out["problems"].append(f"file://: the page requested live files: {runtime[:3]}")
        out["problems"] += [f"file://: a request failed: {f}" for f in events["failed"]]
        out["problems"] += [f"file://: script error from the explorer: {e}" for e in events["errors"] if _ours(e)]
    finally:
        tab.close()
    return out


def check_blocked(browser, base: str, page: str) -> dict:
    out: dict = {"blocked": "*ort.wasm.min.js", "problems": []}
    tab = Tab(browser, base + page, blocked=["*ort.wasm.min.js"])
    try:
        st = wait_live(tab, 0, timeout=60)
        now = displayed(tab, 0)
        out["status"] = now["status"]
        if not st["failed"] or "could not start" not in now["status"]:
            out["problems"].append(f"runtime blocked: no fallback message: {now['status']!r}")
        if (now["current"] or {}).get("mode") != "static":
            out["problems"].append(f"runtime blocked: not back on the pre-rendered grid: {now['current']}")
        events = tab.take()
        out["problems"] += [f"runtime blocked: script error from the explorer: {e}" for e in events["errors"]
                            if _ours(e) and "did not load" not in e]
    finally:
        tab.close()
    return out


def run_checks(site: Path, page: str, data_root=None, shots=None, chromium=None) -> dict:
    site = Path(site)
    page = page.removesuffix(".html") + ".html"
    if not (site / page).is_file():
        raise Failed(f"{site / page} does not exist: build the book first (make html)")
    executable = check_html.find_chromium(chromium)
    if executable is None:
        raise FileNotFoundError("Chromium")
    saved = check_html.CHROMIUM_FLAGS
    check_html.CHROMIUM_FLAGS = FLAGS
    started = time.monotonic()
    try:
        browser = check_html.Browser(executable)
    finally:
        check_html.CHROMIUM_FLAGS = saved
    summary: dict = {"site": str(site), "page": page, "browser": browser.version, "problems": []}
    try:
        with http_server(site) as base:
            for name, check in (("http", lambda: check_http(browser, base, page, data_root, shots)),
                                ("runtime_blocked", lambda: check_blocked(browser, base, page))):
                try:
                    summary[name] = check()
                except Failed as exc:
                    summary[name] = {"problems": [f"{name}: {exc}"]}
                summary["problems"] += summary[name]["problems"]
        try:
            summary["file"] = check_file(browser, site, page, shots)
        except Failed as exc:
            summary["file"] = {"problems": [f"file://: {exc}"]}
        summary["problems"] += summary["file"]["problems"]
    finally:
        browser.close()
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["ok"] = not summary["problems"]
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--page", default="book/explore_models", help="the page holding the explorer")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--screenshots", type=Path, default=None, help="default: <site>/../screenshots")
    parser.add_argument("--data-root", default=None, help="MNIST root (default $STNUTILS_DATA)")
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM, then PATH)")
    args = parser.parse_args(argv)
    shots = args.screenshots or args.site.parent / "screenshots"
    try:
        summary = run_checks(args.site, args.page, args.data_root, shots, args.chromium)
    except FileNotFoundError as exc:
        if str(exc) != "Chromium":
            raise
        print(f"check_sliders: Chromium not found. Install it with: {check_html.INSTALL_HINT}", file=sys.stderr)
        return 2
    except (Failed, check_html.CheckError) as exc:
        print(f"check_sliders: FAILED: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if not summary["ok"]:
        print(f"\ncheck_sliders: FAILED, {len(summary['problems'])} problem(s):", file=sys.stderr)
        for problem in summary["problems"]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"check_sliders: OK ({summary['page']}, {summary['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
