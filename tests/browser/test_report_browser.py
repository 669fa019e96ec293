"""report.html renders in a real browser: its images decode and its tables are laid out."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_evaluate_report import hand_predictions, make_run  # noqa: E402

from mnistlab.evaluation.report import write_report  # noqa: E402

pytestmark = pytest.mark.browser

# Appended to a copy of the page: after load, write what the browser made of it into the DOM.
PROBE = """<script>
window.addEventListener('load', () => {
  const r = e => e.getBoundingClientRect();
  const out = {
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,
              w: i.naturalWidth, h: i.naturalHeight, shown: r(i).width})),
    tables: [...document.querySelectorAll('table')].map(t => ({id: t.id, rows: t.rows.length,
              height: r(t).height})),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return write_report(make_run(root), predictions=hand_predictions())


def test_report_images_decode_and_tables_render(browser, report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = browser.dump_dom(probed)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"probe did not run; DOM starts: {dom[:500]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    images = result["images"]
    assert [i["alt"] for i in images] == ["loss, accuracy and learning-rate curves", "confusion matrix heatmap",
                                          "misclassified samples", "sample images"]
    for img in images:  # decoded by the browser (naturalWidth is 0 for a broken image) and laid out
        assert img["complete"] and img["w"] > 100 and img["h"] > 50 and img["shown"] > 100, img
    tables = {t["id"]: t for t in result["tables"]}
    assert tables["confusion-table"]["rows"] == 1 + 5 and tables["confusion-table"]["height"] > 50
    assert tables["classification-report"]["rows"] == 1 + 5 + 3
    assert tables["metrics-table"]["height"] > 50
    assert tables["history-table"]["rows"] == 1 + 3  # inside a closed <details>: present, not shown


def test_report_screenshot_is_not_blank(browser, report, tmp_path):
    shot = browser.screenshot(report, tmp_path / "report.png", size=(1200, 1600))
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # text, plots and tables drawn
