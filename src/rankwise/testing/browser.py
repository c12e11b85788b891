"""Open an HTML page in headless Chromium, as a person would, and report what happened.

Drives the system's Chromium (Debian's ``chromium`` package, or ``$RANKWISE_CHROMIUM``) through Playwright's
Python API, which needs no browser download of its own. Every request that is not for a ``file:`` URL is refused
and recorded, so a page that would reach the network is caught. From the command line::

    python -m rankwise.testing.browser report.html --screenshot report.png [--full-page]
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Flags that start Chromium quietly in a container: no sandbox (root), no GPU, nothing fetched in the background.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")

_FIGURES = """() => Array.from(document.querySelectorAll('svg.rw-fig')).map(s => {
  const box = s.getBoundingClientRect();
  const marks = Array.from(s.querySelectorAll('rect,polygon,polyline,circle,path'))
    .filter(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0; });
  return {kind: s.dataset.figure, width: box.width, height: box.height, marks: marks.length};
})"""


def find_chromium() -> str | None:
    """The Chromium to drive: ``$RANKWISE_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the PATH."""
    return os.environ.get("RANKWISE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)  # console.error messages and uncaught exceptions
    external_requests: list[str] = field(default_factory=list)  # requests refused because they left the file
    figures: list[dict] = field(default_factory=list)  # per svg.rw-fig: kind, rendered size, marks with an area
    screenshot: str | None = None


def check_page(path, screenshot=None, *, width: int = 1280, height: int = 900, full_page: bool = False,
               actions=None) -> PageCheck:
    """Load ``path`` in headless Chromium, collect console errors, refused requests and the drawn figures, run
    ``actions(page)`` (a Playwright page) if given, and save a PNG screenshot to ``screenshot``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ImportError("checking a page in a browser needs Playwright: pip install playwright "
                          "(no browser download: the system's Chromium is used)") from None
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found: install Debian's chromium package (make browser) or set "
                                "RANKWISE_CHROMIUM to a Chromium executable")
    out = PageCheck()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: out.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: out.console_errors.append(f"uncaught: {e}"))

            def route(r):
                if r.request.url.startswith(("file:", "data:", "about:")):
                    r.continue_()
                else:
                    out.external_requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            out.figures = page.evaluate(_FIGURES)
            if actions is not None:
                actions(page)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=full_page)
                out.screenshot = str(screenshot)
        finally:
            browser.close()
    return out


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="open an HTML page in headless Chromium and report errors")
    parser.add_argument("page")
    parser.add_argument("--screenshot", metavar="PNG")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full-page", action="store_true")
    args = parser.parse_args(argv)
    check = check_page(args.page, args.screenshot, width=args.width, height=args.height, full_page=args.full_page)
    for message in check.console_errors:
        print(f"console error: {message}")
    for url in check.external_requests:
        print(f"refused request: {url}")
    for fig in check.figures:
        print(f"figure {fig['kind']}: {fig['width']:.0f}×{fig['height']:.0f} px, {fig['marks']} marks")
    if check.screenshot:
        print(f"screenshot: {check.screenshot}")
    return 1 if check.console_errors or check.external_requests else 0


if __name__ == "__main__":
    raise SystemExit(main())
