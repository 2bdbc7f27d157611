"""On a failing test, keeps a screenshot and the page's HTML in the artifacts folder for diagnosis."""

import os
import pathlib

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    driver = item.funcargs.get("browser") or item.funcargs.get("plain_browser")
    if driver is None:
        return
    artifacts = pathlib.Path(os.environ.get("LOKET_ARTIFACTS", pathlib.Path(__file__).parent / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        driver.save_screenshot(str(artifacts / f"FAILED-{item.name}.png"))
        (artifacts / f"FAILED-{item.name}.html").write_text(driver.page_source, encoding="utf-8")
    except Exception as error:  # the browser itself may be what failed
        print(f"no failure screenshot for {item.name}: {error}")
