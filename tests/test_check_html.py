"""scripts/check_html.py on tiny fake sites: each kind of problem is reported, a clean site passes.

The static checks (TOC, links, anchors, Sphinx error markup, build log) need no browser;
the tests that open pages in Chromium are skipped when it is not installed.
"""

import importlib.util
import json
import sys
import zlib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_html.py"
_spec = importlib.util.spec_from_file_location("check_html", SCRIPT)
check_html = importlib.util.module_from_spec(_spec)
sys.modules["check_html"] = check_html  # dataclasses look their module up there
_spec.loader.exec_module(check_html)

needs_chromium = pytest.mark.skipif(
    check_html.find_chromium() is None,
    reason="Chromium is not installed (make install-chromium)",
)


def png(width=2, height=2) -> bytes:
    """A valid grey PNG, written by hand so the test needs no imaging library."""

    def chunk(kind, data):
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def page(title, body):
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><main>{body}</main></body></html>"
    )


TOC = "format: jb-book\nroot: intro\nchapters:\n  - file: book/ch1\n  - file: book/ch2.ipynb\n"


@pytest.fixture
def site(tmp_path):
    """A clean two-chapter site; tests break one thing in it."""
    html = tmp_path / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "_images" / "fig.png").write_bytes(png())
    (html / "intro.html").write_text(
        page(
            "Intro",
            '<h1 id="intro">Intro</h1><p><a href="book/ch1.html">ch1</a> '
            '<a href="book/ch2.html#results">results</a> <a href="#intro">top</a> '
            '<a href="https://example.org/x.html">external</a> <a href="#">menu</a></p>',
        )
    )
    (html / "book" / "ch1.html").write_text(
        page(
            "Chapter 1",
            '<h1 id="ch1">Chapter 1</h1><img src="../_images/fig.png" alt="fig">'
            '<p>An offset <span class="math">(i, j)</span>.</p>'
            "<pre>code may say \\( or $$ freely</pre><p><code>$$x$$</code></p>"
            '<p><a href="../intro.html#intro">back</a></p>',
        )
    )
    (html / "book" / "ch2.html").write_text(
        page("Chapter 2", '<h1 id="ch2">Chapter 2</h1><section id="results"><p>Done.</p></section>')
    )
    (tmp_path / "_toc.yml").write_text(TOC)
    return html


def problems(summary):
    return "\n".join(summary["problems"])


def run(site, use_browser, **kwargs):
    kwargs.setdefault("screenshot_pages", ["book/ch1"])
    return check_html.run_checks(site, site.parents[1] / "_toc.yml", use_browser=use_browser, **kwargs)


# ---------------------------------------------------------------- no browser needed


def test_toc_pages_in_order(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: intro.md\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: book/a.ipynb\n        sections:\n          - file: book/a1\n"
        "      - url: https://example.org\n  - caption: B\n    chapters:\n      - file: ./labnotes/b\n"
    )
    assert check_html.toc_pages(toc, tmp_path) == ["intro", "book/a", "book/a1", "labnotes/b"]


def test_clean_site_passes_static_checks(site):
    summary = run(site, use_browser=False)
    assert summary["ok"], problems(summary)
    assert summary["pages"]["intro"]["links"] == 5


def test_broken_link_and_missing_anchor_are_reported(site):
    ch2 = site / "book" / "ch2.html"
    ch2.write_text(
        ch2.read_text().replace(
            "<p>Done.</p>",
            '<p><a href="ch3.html">next</a> <a href="../intro.html#nowhere">up</a> '
            '<a href="#missing">here</a> <a href="ch1.html#ch1">fine</a></p>',
        )
    )
    summary = run(site, use_browser=False)
    assert not summary["ok"]
    text = problems(summary)
    assert "book/ch2: broken link 'ch3.html': book/ch3.html does not exist" in text
    assert "book/ch2: broken link '../intro.html#nowhere': no id 'nowhere' in intro.html" in text
    assert "book/ch2: broken link '#missing': no id 'missing' in book/ch2.html" in text
    assert "ch1.html#ch1" not in text
    assert len(summary["problems"]) == 3


def test_missing_image_file_is_reported_without_browser(site):
    (site / "_images" / "fig.png").unlink()
    summary = run(site, use_browser=False)
    assert "book/ch1: broken image '../_images/fig.png': file does not exist" in problems(summary)


def test_img_without_src_is_reported_unless_a_js_animation_fills_it(site):
    ch2 = site / "book" / "ch2.html"
    text = ch2.read_text()
    # matplotlib's to_jshtml animation: its frame <img> gets its src from a script
    ch2.write_text(text.replace("<p>Done.</p>", '<p>Done.</p><img id="_anim_img1a2b">'))
    assert run(site, use_browser=False)["ok"]
    ch2.write_text(text.replace("<p>Done.</p>", '<p>Done.</p><img id="_anim_img1a2b"><img alt="x">'))
    summary = run(site, use_browser=False)
    assert summary["problems"] == ["book/ch2: <img> without src"]


def test_sphinx_system_message_is_reported(site):
    ch2 = site / "book" / "ch2.html"
    ch2.write_text(
        ch2.read_text().replace(
            "<p>Done.</p>",
            '<div class="system-message"><p class="system-message-title">System Message: '
            'ERROR/3</p><p>Unknown directive type "foo".</p></div>'
            '<a href="#id1"><span class="problematic" id="id2">`bad`_</span></a>',
        )
    )
    summary = run(site, use_browser=False)
    text = problems(summary)
    assert 'Sphinx error markup in the page: <div class="system-message"> System Message' in text
    assert 'Unknown directive type "foo"' in text
    assert '<span class="problematic"> `bad`_' in text
    assert "no id 'id1'" in text


def test_toc_page_not_built_is_reported(site):
    (site / "book" / "ch2.html").unlink()
    summary = run(site, use_browser=False)
    assert "book/ch2: in the TOC but not built" in problems(summary)
    # ...and so is intro's link to it
    assert "intro: broken link 'book/ch2.html#results'" in problems(summary)


def test_build_log_warnings_fail(site, tmp_path):
    log = tmp_path / "build.log"
    log.write_text(
        "Running Sphinx v7.4.7\n\x1b[91m/x/book/ch1.ipynb:3: WARNING: undefined label: 'foo'\x1b[39;49;00m\n"
        "build succeeded.\n"
    )
    summary = run(site, use_browser=False, build_log=log)
    assert summary["build_log"]["warnings"] == 1
    assert "Sphinx /x/book/ch1.ipynb:3: WARNING: undefined label: 'foo'" in problems(summary)
    log.write_text("Running Sphinx v7.4.7\nbuild succeeded.\n")
    assert run(site, use_browser=False, build_log=log)["ok"]


def test_no_screenshot_page_in_toc_fails(site):
    summary = run(site, use_browser=False, screenshot_pages=["book/results"])
    assert "none of the screenshot pages ['book/results'] is in" in problems(summary)
    summary = run(site, use_browser=False, screenshot_pages=["book/results", "book/ch2"])
    assert summary["ok"], problems(summary)
    assert summary["screenshots_not_in_toc"] == ["book/results"]


def test_missing_chromium_exits_2(site, capsys):
    toc = site.parents[1] / "_toc.yml"
    status = check_html.main(
        ["--site", str(site), "--toc", str(toc), "--chromium", str(site / "no-such-chromium")]
    )
    assert status == 2
    assert "apt-get install -y chromium" in capsys.readouterr().err


# ---------------------------------------------------------------- in Chromium


@needs_chromium
def test_clean_site_passes_in_chromium(site, tmp_path):
    shots = tmp_path / "shots"
    summary = run(site, use_browser=True, screenshot_dir=shots)
    assert summary["ok"], problems(summary)
    assert summary["pages"]["book/ch1"]["images"] == 1
    shot = shots / "book" / "ch1.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (int.from_bytes(shot.read_bytes()[i : i + 4], "big") for i in (16, 20))
    assert (width, height) == check_html.WINDOW
    assert not (shots / "intro.png").exists()


@needs_chromium
def test_broken_images_are_reported_in_chromium(site, tmp_path):
    ch1 = site / "book" / "ch1.html"
    (site / "_images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    ch1.write_text(
        ch1.read_text().replace(
            '<img src="../_images/fig.png" alt="fig">',
            '<img src="../_images/fig.png" alt="fig"><img src="../_images/corrupt.png" alt="bad">'
            '<img src="../_images/gone.png" alt="gone" loading="lazy" style="margin-top:5000px">',
        )
    )
    summary = run(site, use_browser=True, screenshot_dir=tmp_path / "shots")
    text = problems(summary)
    assert not summary["ok"]
    assert "book/ch1: broken image '../_images/corrupt.png' (naturalWidth 0" in text
    assert "book/ch1: broken image '../_images/gone.png' (naturalWidth 0" in text
    assert "book/ch1: a file the page needs failed to load: file://" in text
    assert "fig.png" not in text
    assert summary["pages"]["book/ch1"]["images"] == 3


@needs_chromium
def test_raw_tex_is_reported_in_chromium(site, tmp_path):
    ch2 = site / "book" / "ch2.html"
    ch2.write_text(
        ch2.read_text().replace(
            "<p>Done.</p>",
            '<p>Offsets <span class="math">\\((i, j) \\sim \\mathcal{N}(0, \\sigma)\\)</span> '
            "and a price of $5.</p><p>Loss $\\mathcal{L}$ here.</p>"
            '<p style="display:none">\\(hidden\\)</p>',
        )
    )
    summary = run(site, use_browser=True, screenshot_dir=tmp_path / "shots")
    found = [p for p in summary["problems"] if "raw TeX" in p]
    assert len(found) == 2, found
    assert found[0].startswith("book/ch2: raw TeX in the visible text (none): ...")
    assert "Offsets \\((i, j) \\sim" in found[0]
    assert "$\\mathcal{L}$" in found[1]
    assert "hidden" not in problems(summary)
    # the <pre> and <code> of ch1 hold '\\(' and '$$' too: code is not checked
    assert summary["pages"]["book/ch1"]["problems"] == []


@needs_chromium
def test_main_prints_json_and_fails_with_the_page_named(site, tmp_path, capsys):
    ch2 = site / "book" / "ch2.html"
    ch2.write_text(ch2.read_text().replace("<p>Done.</p>", "<p>\\[x^2\\]</p>"))
    toc = site.parents[1] / "_toc.yml"
    out = tmp_path / "summary.json"
    args = ["--site", str(site), "--toc", str(toc), "--screenshot", "book/ch2", "--json", str(out)]
    assert check_html.main(args) == 1
    captured = capsys.readouterr()
    assert "book/ch2: raw TeX in the visible text" in captured.err
    summary = json.loads(out.read_text())
    assert summary["ok"] is False and json.loads(captured.out) == summary
    assert (site.parent / "screenshots" / "book" / "ch2.png").is_file()
    ch2.write_text(ch2.read_text().replace("<p>\\[x^2\\]</p>", "<p>x squared</p>"))
    assert check_html.main(args) == 0


@needs_chromium
def test_local_mathjax_renders_and_bad_tex_is_reported(site, tmp_path):
    """The MathJax 2 the book ships (_ext/local_mathjax.py) typesets offline; TeX errors fail."""
    pytest.importorskip("sphinx")
    ext = importlib.util.spec_from_file_location("local_mathjax", SCRIPT.parents[1] / "_ext" / "local_mathjax.py")
    local_mathjax = importlib.util.module_from_spec(ext)
    ext.loader.exec_module(local_mathjax)
    try:
        source = local_mathjax.mathjax_source()
    except Exception as exc:  # not installed: the build would fail the same way
        pytest.skip(f"no local MathJax: {exc}")
    import shutil

    shutil.copytree(source, site / "_static" / "mathjax")
    config = (
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({"tex2jax": {"processClass": '
        '"math", "ignoreClass": "tex2jax_ignore"}, "HTML-CSS": {"availableFonts": [], '
        '"webFont": "STIX-Web", "imageFont": null}, "messageStyle": "none"})</script>'
        '<script async src="../_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"></script>'
    )
    ch2 = site / "book" / "ch2.html"
    ch2.write_text(
        ch2.read_text()
        .replace("</head>", config + "</head>")
        .replace(
            "<p>Done.</p>",
            '<section class="tex2jax_ignore"><p>Offsets <span class="math">\\((i, j) \\sim '
            '\\mathcal{N}(0, \\sigma)\\)</span>.</p></section>',
        )
    )
    summary = run(site, use_browser=True, screenshot_dir=tmp_path / "shots")
    assert summary["ok"], problems(summary)
    assert summary["pages"]["book/ch2"]["mathjax"].startswith("MathJax 2.7")

    ch2.write_text(ch2.read_text().replace("\\sigma", "\\nosuchmacro"))
    summary = run(site, use_browser=True, screenshot_dir=tmp_path / "shots")
    assert "book/ch2: MathJax could not typeset: " in problems(summary)
    assert "nosuchmacro" in problems(summary)
