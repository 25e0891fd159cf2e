"""The web page in a real headless Chromium against the real app served by uvicorn (no mocks).

The model is the authors' NTU-60 model with an index of the five NTU samples when ``../shared/data``
is there; without it, the tiny synthetic classifier of ``service_files`` (tests/server/conftest.py).
Chromium and chromedriver come from Debian (``make browser``); the tests skip without them unless
``VCL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from index.action_index import ActionIndex
from index.build import from_files
from runtime.model import OnnxModel
from server.app import create_app
from server.settings import Settings
from tests.conftest import SHARED_DATA
from tests.server.conftest import ServiceFiles, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)
K = 5  # the page asks for the top 5 classes and 5 neighbours
WAIT_S = 30
BACKGROUND = (16, 21, 28)  # the viewer's background colour (viewer.js)
KEY = "reader-key-for-the-web-test"


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        reason = (
            f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver (make browser)"
        )
        if os.environ.get("VCL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"VCL_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@dataclass(frozen=True)
class WebFiles:
    model: Path
    index: Path
    data_root: Path
    picked: str  # a file under the data root to pick from the page's list
    upload: Path  # another clip file to upload
    official: bool


@pytest.fixture(scope="module")
def web_files(request: pytest.FixtureRequest) -> WebFiles:
    """The authors' NTU-60 model with an index of the five NTU samples (the data root) when
    ../shared/data is there, else the tiny synthetic classifier of ``service_files``."""
    _require_browser()  # before the model build, which takes a while
    needed = [f"vcl_official/ntu60_xsub_{s}_linear.pt" for s in ("joint", "bone", "motion")]
    if not all((SHARED_DATA / p).exists() for p in [*needed, "ntu_samples"]):
        files: ServiceFiles = request.getfixturevalue("service_files")
        few = files.root / "few"
        return WebFiles(files.model, files.index, files.root, "few/clip1.npz", few / "clip2.npz", False)
    model: Path = request.getfixturevalue("official_model")
    root = Path(request.getfixturevalue("tmp_path_factory").mktemp("web"))
    data = SHARED_DATA / "ntu_samples"
    runtime = OnnxModel(model)
    embeddings, items = from_files(runtime, [data], first_id=0)
    index = root / "index"
    ActionIndex.create(index, embeddings.embedding, items, embeddings.sigma, runtime.manifest.model_sha256)
    upload = data / "S001C001P001R001A011.skeleton"
    return WebFiles(model, index, data, "S001C003P008R002A058.skeleton", upload, True)


@pytest.fixture(scope="module")
def url(web_files: WebFiles) -> Iterator[str]:
    settings = Settings(
        model_dir=str(web_files.model), index_dir=str(web_files.index), data_root=str(web_files.data_root)
    )
    with serve_in_thread(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    _require_browser()
    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


# ---------------------------------------------------------------------------- page helpers
def _severe(driver: Chrome, allowed_statuses: tuple[int, ...] = ()) -> list[str]:
    """SEVERE browser-log entries since the last call, but favicon misses and expected statuses."""
    out = []
    for entry in driver.get_log("browser"):
        message = entry["message"]
        if entry["level"] != "SEVERE" or "favicon" in message:
            continue
        if entry.get("source") == "network" and any(f"status of {s} " in message for s in allowed_statuses):
            continue
        out.append(message)
    return out


def _open(driver: Chrome, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(lambda d: _body(d, "state") in ("idle", "error"))


def _body(driver: Chrome, key: str) -> str | None:
    return driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{key}")


def _run_and_wait(driver: Chrome, action: Callable[[], object]) -> str:
    """Start an analysis (``action()``) and wait for it to end; returns the final state."""
    before = int(_body(driver, "run") or 0)
    action()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: int(_body(d, "run") or 0) > before and _body(d, "state") in ("ready", "error")
    )
    return str(_body(driver, "state"))


def _text(driver: Chrome, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _ink(driver: Chrome, selector: str) -> int:
    """Pixels of the canvas that are not the viewer's background."""
    script = """
        const c = document.querySelector(arguments[0]);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const [r, g, b] = arguments[1];
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) > 30) n++;
        }
        return n;
    """
    return int(driver.execute_script(script, selector, list(BACKGROUND)))


def _image(driver: Chrome) -> str:
    return str(driver.execute_script("return document.getElementById('main-canvas').toDataURL();"))


# ---------------------------------------------------------------------------- tests
def test_picked_clip_shows_label_skeleton_and_neighbours(
    web_files: WebFiles, url: str, driver: Chrome
) -> None:
    _open(driver, url)
    assert "60 classes" in _text(driver, "model-info") or not web_files.official
    body = {"clip": {"path": web_files.picked}, "k": K}
    expected = httpx.post(
        f"{url}/v1/classify", json={"clips": [{"path": web_files.picked}], "top_k": K}, timeout=WAIT_S
    ).json()["results"][0]
    neighbours = httpx.post(f"{url}/v1/search", json=body, timeout=WAIT_S).json()["neighbours"]

    files = Select(driver.find_element(By.ID, "files"))
    assert web_files.picked in [o.get_attribute("value") for o in files.options]
    assert _run_and_wait(driver, lambda: files.select_by_value(web_files.picked)) == "ready"

    assert _text(driver, "label") == expected["label"]
    if web_files.official:
        assert expected["label"] == "handshaking"  # the reference label of the A058 sample
    assert _text(driver, "probability") == f"{100 * expected['probability']:.1f}%"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#topk li")) == K
    assert _text(driver, "unknown") == "known"
    uncertainty = _text(driver, "uncertainty")
    assert f"{expected['uncertainty']['softmax_entropy']:.3f}" in uncertainty
    if "score" in expected["uncertainty"]:  # a Gaussian head: the sigma score per stream
        assert f"{expected['uncertainty']['score']:.3f}" in uncertainty and "motion" in uncertainty

    cards = driver.find_elements(By.CSS_SELECTOR, "#neighbours .neighbour")
    assert len(cards) == K
    labels = [c.find_element(By.CLASS_NAME, "label").text for c in cards]
    assert labels == [n["label"] or "unlabelled" for n in neighbours]
    assert all(labels) and cards[0].find_element(By.CLASS_NAME, "score").text == "score 1.000"

    # the skeletons are drawn, the main one animates and rotates when dragged
    WebDriverWait(driver, WAIT_S).until(lambda d: _ink(d, "#main-canvas") > 500)
    WebDriverWait(driver, WAIT_S).until(lambda d: _ink(d, "#neighbours .neighbour canvas") > 100)
    canvas = driver.find_element(By.ID, "main-canvas")
    first_frame, first_image = canvas.get_attribute("data-frame"), _image(driver)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: canvas.get_attribute("data-frame") != first_frame and _image(d) != first_image
    )
    driver.find_element(By.ID, "play").click()
    assert _text(driver, "play") == "Play"
    still = _image(driver)
    ActionChains(driver).drag_and_drop_by_offset(canvas, 120, 40).perform()
    WebDriverWait(driver, WAIT_S).until(lambda d: _image(d) != still)
    assert _severe(driver) == []


def test_uploaded_clip_is_classified(web_files: WebFiles, url: str, driver: Chrome) -> None:
    _open(driver, url)
    with web_files.upload.open("rb") as f:
        files = {"files": (web_files.upload.name, f.read())}
    expected = httpx.post(f"{url}/v1/classify/files", files=files, timeout=WAIT_S).json()["results"][0]
    upload = driver.find_element(By.ID, "upload")
    assert _run_and_wait(driver, lambda: upload.send_keys(str(web_files.upload))) == "ready"
    assert _text(driver, "label") == expected["label"]
    assert _text(driver, "clip-name") == expected["name"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#neighbours .neighbour")) == K
    WebDriverWait(driver, WAIT_S).until(lambda d: _ink(d, "#main-canvas") > 500)
    assert _severe(driver) == []


def test_bogus_upload_shows_the_servers_error(url: str, driver: Chrome, tmp_path: Path) -> None:
    _open(driver, url)
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not a skeleton: 1 2 3 garbage\n")
    answer = httpx.post(
        f"{url}/v1/classify/files", files={"files": (bogus.name, bogus.read_bytes())}, timeout=WAIT_S
    )
    assert answer.status_code == 422
    upload = driver.find_element(By.ID, "upload")
    assert _run_and_wait(driver, lambda: upload.send_keys(str(bogus))) == "error"
    error = driver.find_element(By.ID, "error")
    assert error.is_displayed() and answer.json()["detail"] in error.text
    assert _severe(driver, allowed_statuses=(422,)) == []


def test_key_prompt_and_no_index(web_files: WebFiles, driver: Chrome) -> None:
    """A server that needs a key and has no index or data root: the page asks for the key, then
    works (GET and POST), says why server files and neighbours are unavailable."""
    settings = Settings(model_dir=str(web_files.model), read_open=False, api_key=KEY)
    with serve_in_thread(create_app(settings)) as base:
        _open(driver, base)
        key = driver.find_element(By.ID, "api-key")
        assert key.is_displayed() and "missing or wrong X-API-Key" in _text(driver, "error")
        key.send_keys(KEY)
        driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
        WebDriverWait(driver, WAIT_S).until(lambda d: _body(d, "state") == "idle")
        assert not key.is_displayed() and not driver.find_element(By.ID, "error").is_displayed()
        assert "classes" in _text(driver, "model-info")
        assert driver.execute_script("return sessionStorage.getItem('vcl-api-key');") == KEY
        assert not driver.find_element(By.ID, "neighbours-section").is_displayed()
        assert "no index configured" in _text(driver, "index-note")
        assert not driver.find_element(By.ID, "by").is_enabled()  # nothing to label by but the model
        assert "no data root configured" in _text(driver, "files-note")
        upload = driver.find_element(By.ID, "upload")  # POSTs carry the key too
        assert _run_and_wait(driver, lambda: upload.send_keys(str(web_files.upload))) == "ready"
        assert _text(driver, "label") and not driver.find_element(By.ID, "neighbours-section").is_displayed()
        assert _severe(driver, allowed_statuses=(401, 404)) == []
        driver.execute_script("sessionStorage.clear();")


def test_readable_uncertainty_of_a_model_with_a_reference_block(
    web_files: WebFiles, driver: Chrome, tmp_path: Path
) -> None:
    """A manifest with the ``uncertainty`` block (threshold 0 on softmax confidence: every clip is
    flagged): the page shows the calibrated chance of a wrong label, the percentiles and the rule."""
    import json
    import shutil

    from tests.runtime.test_manifest import UNCERTAINTY

    model = tmp_path / "model"
    shutil.copytree(web_files.model, model)
    raw = json.loads((model / "manifest.json").read_text())
    block: dict[str, Any] = {
        **UNCERTAINTY,
        "unknown": {"score": "softmax", "threshold": 0.0, "flag_rate": 0.05},
    }
    if not raw["has_gaussian_head"]:  # the authors' linear checkpoints: softmax confidence only
        block["quantiles"] = {"softmax": [0.04 * i for i in range(21)]}
        block["wrong_probability"] = {
            "features": ["softmax"],
            "center": [0.4],
            "scale": [0.2],
            "weights": [2.0],
            "bias": -1.0,
        }
    (model / "manifest.json").write_text(json.dumps({**raw, "uncertainty": block}))
    settings = Settings(
        model_dir=str(model), index_dir=str(web_files.index), data_root=str(web_files.data_root)
    )
    with serve_in_thread(create_app(settings)) as base:
        _open(driver, base)
        expected = httpx.post(
            f"{base}/v1/classify", json={"clips": [{"path": web_files.picked}]}, timeout=WAIT_S
        ).json()["results"][0]
        files = Select(driver.find_element(By.ID, "files"))
        assert _run_and_wait(driver, lambda: files.select_by_value(web_files.picked)) == "ready"
        uncertainty = _text(driver, "uncertainty")
        badge = driver.find_element(By.ID, "unknown")
        title = badge.get_attribute("title") or ""
    wrong = expected["uncertainty"]["wrong_probability"]
    assert f"{100 * wrong:.0f}% (calibrated on validation clips)" in uncertainty
    assert "softmax confidence" in uncertainty and "of the validation clips" in uncertainty
    assert ("sigma score (raw)" in uncertainty) is raw["has_gaussian_head"]
    assert badge.text == "unknown" and "softmax confidence above 0.000" in title
    assert _severe(driver) == []


def test_label_by_the_index(web_files: WebFiles, url: str, driver: Chrome) -> None:
    """The 'label by' choice reaches classify; the page shows who decided (docs/index.md)."""
    _open(driver, url)
    answer = httpx.post(
        f"{url}/v1/classify",
        json={"clips": [{"path": web_files.picked}], "top_k": K, "by": "both"},
        timeout=WAIT_S,
    )
    assert answer.status_code == 200, answer.text
    expected = answer.json()["results"][0]
    assert expected["decided_by"] in ("model", "index")
    assert driver.find_element(By.ID, "by").is_enabled()  # the server has an index
    Select(driver.find_element(By.ID, "by")).select_by_value("both")
    files = Select(driver.find_element(By.ID, "files"))
    assert _run_and_wait(driver, lambda: files.select_by_value(web_files.picked)) == "ready"
    suffix = " (by the index's clips)" if expected["decided_by"] == "index" else ""
    assert _text(driver, "label") == expected["label"] + suffix
    assert _severe(driver) == []
