"""The overview's HTML page of a small pair in a real browser: headless chromium driven by selenium
through chromedriver. It loads without any network request or console error, draws one mark per
sample, shows a sample's index when a mark is hovered, and filters the marks by dissection group.

Where chromium or chromedriver is missing, setup installs Debian's `chromium chromium-driver` (as
root, where apt-get exists, within a few minutes), else the tests skip saying why. The page and a
screenshot with the tooltip shown are left at /tmp/kdlab_report.html and /tmp/kdlab_report_screenshot.png.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kdlab.analysis import per_sample
from kdlab.plan import run_plan
from kdlab.records import OutDir
from kdlab.reports import make_report

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the dev extra)")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytest.importorskip("pandas")  # the scatter's rows (kdlab.analysis.per_sample_frame)

SCREENSHOT, PAGE = Path("/tmp/kdlab_report_screenshot.png"), Path("/tmp/kdlab_report.html")
# Headless, and nothing that talks to the network on its own (the machine may have none: without
# these flags chromium tries to reach Google's services)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1300,1000"]
INSTALL_SECONDS = 240
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}
DATA = {"name": "digits", "train_size": 200, "label_noise": 0.2}
PLAN = {"runs": {
    "teacher": {"data": DATA, "model": {"name": "mlp", "hidden": [32]}, "train": {"epochs": 2, "batch_size": 32}},
    "student": {"data": DATA, "model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 2, "batch_size": 32},
                "seed": 1, "loss": {"terms": {"kd": {"weight": 1, "temperature": 4}}}, "teacher": {"run": "teacher"}},
}}


def _found() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


def browser_paths() -> tuple[str, str]:
    """chromium's and chromedriver's paths, installing Debian's packages where that can be done."""
    chromium, driver = _found()
    if chromium and driver:
        return chromium, driver
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium or chromedriver is missing, and they can be installed here only as root with apt-get "
                    "(apt-get install chromium chromium-driver)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    try:
        if subprocess.run(install, env=env, capture_output=True, timeout=INSTALL_SECONDS).returncode != 0:
            # perhaps the package lists were never fetched
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=INSTALL_SECONDS)
            subprocess.run(install, env=env, capture_output=True, timeout=INSTALL_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing chromium and chromium-driver with apt-get took over {INSTALL_SECONDS} s")
    chromium, driver = _found()
    if not (chromium and driver):
        pytest.skip("chromium or chromedriver is missing and apt-get could not install chromium chromium-driver")
    return chromium, driver


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    run_plan(PLAN, out / "runs", progress=False, log=lambda s: None)
    made = make_report("overview", OutDir(out / "runs").runs(), out / "report")
    shutil.copyfile(made.files["html"], PAGE)
    return out / "runs", made


@pytest.fixture(scope="module")
def browser(report):
    chromium, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="kdlab-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:  # the driver's path is given: selenium-manager never looks for (or downloads) one
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as e:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium does not start here: {str(e).splitlines()[0]}")
    url = report[1].files["html"].resolve().as_uri()
    driver.get_log("performance")  # what the browser's own start page loaded (chrome://) is not the page's
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(  # the script has drawn the scatter
        "var svg = document.querySelector('.kdlab-scatter svg'); return svg && svg.getAttribute('data-marks')"))
    driver.kdlab_url = url
    driver.kdlab_load_log = driver.get_log("performance")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def requests_made(log: list[dict]) -> list[tuple[str, str]]:
    """(URL, the URL of the document that asked for it) of every request in a performance log."""
    events = [json.loads(entry["message"])["message"] for entry in log]
    return [(e["params"]["request"]["url"], e["params"].get("documentURL", "")) for e in events
            if e["method"] == "Network.requestWillBeSent"]


def check_no_network(requests: list[tuple[str, str]], page: str) -> None:
    """The page asked only for itself and data:/blob: URLs, and nothing at all went to a network (the
    browser's own start page loads chrome:// and chrome-untrusted:// resources meanwhile: those are
    neither the page's nor the network's)."""
    own = [url for url, document in requests if document == page]
    assert all(url == page or url.startswith(("data:", "blob:")) for url in own), own
    assert not [url for url, _ in requests if url.split(":", 1)[0].lower() in NETWORK_SCHEMES]


def visible_marks(driver, svg) -> int:
    return driver.execute_script(
        "return Array.prototype.filter.call(arguments[0].querySelectorAll('circle.kdlab-mark'),"
        " function (c) { return c.style.display !== 'none'; }).length", svg)


def test_the_page_loads_without_network_requests_or_console_errors(browser):
    requests = requests_made(browser.kdlab_load_log)
    assert (browser.kdlab_url, browser.kdlab_url) in requests  # the log did see the page's own request
    check_no_network(requests, browser.kdlab_url)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_every_sample_is_one_mark(browser, report):
    runs, _ = report
    svg = browser.find_element(By.CSS_SELECTOR, ".kdlab-scatter svg")
    samples = len(per_sample(runs / "teacher", runs / "student"))
    assert samples == 200 + 450
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle.kdlab-mark")) == samples
    assert int(svg.get_attribute("data-marks")) == samples == visible_marks(browser, svg)


def hover(browser, mark) -> dict:
    """Move the pointer onto the centre of `mark` (without scrolling) and return the mark the browser
    finds there (the topmost: another may have been drawn over it) with the tooltip's sample index."""
    x, y = browser.execute_script("var r = arguments[0].getBoundingClientRect();"
                                  " return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]", mark)
    under = browser.execute_script("return document.elementFromPoint(arguments[0], arguments[1])", x, y)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(x, y)
    actions.perform()
    tip = WebDriverWait(browser, 5).until(lambda d: d.find_element(By.CSS_SELECTOR, ".kdlab-tip[data-index]"))
    return {"under": under, "index": tip.get_attribute("data-index"), "text": tip.text, "tip": tip}


def test_hovering_a_mark_shows_its_sample(browser):
    box = browser.find_element(By.CSS_SELECTOR, ".kdlab-scatter")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", box)
    svg = box.find_element(By.TAG_NAME, "svg")
    marks = svg.find_elements(By.CSS_SELECTOR, "circle.kdlab-mark")
    # a ring (a sample whose label was flipped) that nothing was drawn over, to see the noise in the tooltip
    noisy = browser.execute_script(
        "var m = arguments[0].querySelectorAll('circle.kdlab-mark[fill=none]');"
        "for (var k = m.length - 1; k >= 0; k--) { var r = m[k].getBoundingClientRect();"
        "  var x = Math.round(r.left + r.width / 2), y = Math.round(r.top + r.height / 2);"
        "  if (document.elementFromPoint(x, y) === m[k]) return m[k]; }", svg)
    assert noisy is not None
    for mark in (marks[-1], noisy):
        shown = hover(browser, mark)
        assert shown["under"].get_attribute("class") == "kdlab-mark"
        index = shown["under"].get_attribute("data-index")
        assert shown["index"] == index and f"sample {index} (" in shown["text"]
        assert "teacher: predicts" in shown["text"] and "original" in shown["text"]
        assert shown["tip"].find_elements(By.TAG_NAME, "canvas"), "no thumbnail of the digit"
    assert shown["under"] == noisy and "noisy, the original is" in shown["text"]
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "h1")).perform()  # the tooltip goes
    assert not browser.find_elements(By.CSS_SELECTOR, ".kdlab-tip[data-index]")


def test_clicking_a_group_filters_the_marks(browser, report):
    runs, _ = report
    counts = per_sample(runs / "teacher", runs / "student")["group"].astype(str).value_counts()
    box = browser.find_element(By.CSS_SELECTOR, ".kdlab-scatter")
    svg = box.find_element(By.TAG_NAME, "svg")
    for group in ("both_correct", "neither"):
        button = box.find_element(By.CSS_SELECTOR, f".kdlab-legend button[data-group='{group}']")
        button.click()
        assert visible_marks(browser, svg) == int(svg.get_attribute("data-visible")) == counts.get(group, 0)
        assert "on" in button.get_attribute("class").split()
    button.click()  # clicking it again shows every group
    assert visible_marks(browser, svg) == counts.sum()
    box.find_element(By.CSS_SELECTOR, ".kdlab-legend button[data-group='neither']").click()
    box.find_element(By.CSS_SELECTOR, ".kdlab-legend button[data-group='all']").click()
    assert visible_marks(browser, svg) == counts.sum()
    # nothing the page did on hover or click asked the network either
    check_no_network(requests_made(browser.get_log("performance")), browser.kdlab_url)
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
