"""report.html opened in headless Chromium: the metrics are in the DOM and every image decodes.

The report itself carries no script. The test loads a copy with a probe script appended that
records, once the page has loaded, how many images decoded (naturalWidth > 0) and were laid
out; ``--dump-dom`` prints the DOM after that. A screenshot of the untouched report must be a
real picture, not a blank page. Without Chromium the tests skip, except under ``CI=true``
where they fail (the ``required`` marker).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tests.evaluation._support import assert_png, write_run, write_sweep
from toolkit.evaluation.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.required("the report opens in a browser"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on PATH: the headless browser check needs Debian's chromium "
        "package (.ci/run installs it)",
    ),
]

PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const decoded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const shown = images.filter((i) => i.getBoundingClientRect().width > 100).length;
  const probe = document.createElement('div');
  probe.id = 'probe';
  probe.dataset.total = images.length;
  probe.dataset.decoded = decoded;
  probe.dataset.shown = shown;
  document.body.appendChild(probe);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _dump_dom(tmp_path: Path, html_path: Path) -> str:
    probe = html_path.with_name("probe.html")
    page = html_path.read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    assert 'id="probe"' in result.stdout, result.stderr[-2000:]
    return result.stdout


def _probe_counts(dom: str) -> dict[str, int]:
    tag = re.search(r'<div id="probe"[^>]*>', dom)
    assert tag is not None
    return {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', tag.group(0))}


def test_run_report_in_chromium(tmp_path):
    run = write_run(tmp_path, "run-a")
    html_path, _ = write_report(run)
    dom = _dump_dom(tmp_path, html_path)
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("rmse", "mae", "r2", "coverage", "crps"):
        assert f"{metrics['test'][name]:.4g}" in dom, name
    assert "55.25" in dom and "random_forest" in dom
    plots = len(list((run / "plots").glob("*.png")))
    assert _probe_counts(dom) == {"total": plots, "decoded": plots, "shown": plots}

    screenshot = tmp_path / "run.png"
    result = _chromium(
        tmp_path, "--window-size=1280,2400", f"--screenshot={screenshot}", html_path.as_uri()
    )
    assert screenshot.exists(), result.stderr[-2000:]
    assert_png(screenshot)
    pixels = matplotlib.image.imread(io.BytesIO(screenshot.read_bytes()), format="png")
    assert pixels.shape[:2] == (2400, 1280)
    assert float(np.std(pixels[..., :3])) > 0.05  # text, tables and plots, not a blank page


def test_sweep_report_in_chromium(tmp_path):
    sweep = write_sweep(tmp_path)
    html_path, _ = write_report(sweep)
    dom = _dump_dom(tmp_path, html_path)
    assert "demo-sweep" in dom and "val_loss" in dom and "0.35" in dom
    plots = len(list((sweep / "plots").glob("*.png")))
    assert plots == 5
    assert _probe_counts(dom) == {"total": plots, "decoded": plots, "shown": plots}
