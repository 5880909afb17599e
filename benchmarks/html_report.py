"""What the HTML report costs: making its pictures per image, and opening the page with many detections.

Makes N photo-like images (default 200 at 1280x960, 25 boxes each: 5000 detections; the data of
benchmarks/throughput.py), runs `segkit run` with the mock backends and --no-html (add --rle for
--mask-format rle), then times `write_html_report` twice (the first makes every
picture; the second finds them unchanged and reuses them), sizes the pictures, and, when Chromium and
Playwright are installed, opens the page headless and times it: until the page is ready, sorting the
detections table, filtering it, and opening an image view.

    .venv/bin/python benchmarks/html_report.py [--images 200] [--size 1280x960] [--boxes 25] [--max-side 1024] [--rle]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_data  # noqa: E402  (photo-like JPEGs and Qwen detections)

from segkit.cli import app  # noqa: E402
from segkit.html_report import write_html_report  # noqa: E402


def timed(fn, *args, **kwargs):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def browse(page_path: Path) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    out = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True, args=flags,
                                                       viewport={"width": 1400, "height": 900})
        page = browser.new_page()
        page.goto("about:blank")
        started = time.perf_counter()
        page.goto(page_path.resolve().as_uri())
        page.wait_for_selector("html[data-ready=true]")
        out["page ready (s)"] = time.perf_counter() - started
        out["DOM elements"] = page.evaluate("document.getElementsByTagName('*').length")
        out["JS heap (MB)"] = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1e6 : -1")
        started = time.perf_counter()
        page.click("#detections-table thead th:nth-child(3) button")  # sort by label
        out["sort detections by label (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        page.fill("#f-min", "0.7")
        out["filter IoU >= 0.7 (s)"] = time.perf_counter() - started
        started = time.perf_counter()
        page.locator("#detections-table tbody tr").first.click()
        page.wait_for_function("[...document.querySelectorAll('#canvas img')].every(i => i.complete && i.naturalWidth > 0)")
        out["open an image view (s)"] = time.perf_counter() - started
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--boxes", type=int, default=25)
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--rle", action="store_true", help="masks as RLE in the records (--mask-format rle), not PNG files")
    parser.add_argument("--keep", type=Path, help="make the folder here and keep it")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        make_data(root, args.images, size, args.boxes)
        out = root / "out"
        run = ["run", "-i", root / "images", "-d", root / "dets", "-o", out, "--conf", "0", "-b", "mock", "-b", "mock-ellipse", "--no-html"]
        run += ["--mask-format", "rle"] if args.rle else []
        result, run_wall, run_cpu = timed(CliRunner().invoke, app, [str(a) for a in run])
        assert result.exit_code == 0, result.output
        _, cold_wall, cold_cpu = timed(write_html_report, out, max_side=args.max_side)
        _, warm_wall, warm_cpu = timed(write_html_report, out, max_side=args.max_side)
        pictures = sum(p.stat().st_size for p in (out / "html").rglob("*") if p.is_file())
        page = (out / "report.html").stat().st_size
        n, dets = args.images, args.images * args.boxes
        masks = "RLE in the records" if args.rle else "PNG files"
        print(f"{n} images {size[0]}x{size[1]}, {dets} detections, 2 backends (mock, mock-ellipse), masks as {masks}")
        print(f"segkit run (no html):           {run_wall:7.2f} s   ({1000 * run_wall / n:.0f} ms per image wall,"
              f" {1000 * run_cpu / n:.0f} ms CPU)")
        print(f"report.html, pictures made:     {cold_wall:7.2f} s   ({1000 * cold_wall / n:.0f} ms per image wall,"
              f" {1000 * cold_cpu / n:.0f} ms CPU)")
        print(f"report.html, pictures reused:   {warm_wall:7.2f} s   ({1000 * warm_cpu / n:.0f} ms CPU per image)")
        print(f"pictures under html/:           {pictures / 1e6:7.2f} MB  ({pictures / n / 1e3:.0f} KB per image)")
        print(f"report.html:                    {page / 1e6:7.2f} MB  ({page / dets:.0f} bytes per detection)")
        timings = browse(out / "report.html")
        if timings is None:
            print("Chromium or Playwright not installed: page timings skipped")
        else:
            for name, value in timings.items():
                print(f"{name + ':':32}{value:7.2f}")


if __name__ == "__main__":
    main()
