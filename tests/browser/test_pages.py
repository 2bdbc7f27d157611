"""Loket's HTML pages in a real headless Chromium (Debian's chromium and chromium-driver).

Run by tests/browser/run.sh, which starts loketd over a private PostgreSQL, creates the fixture
through the real APIs (tests/browser/fixture.py) and passes, in the environment:
LOKET_BASE_URL, LOKET_FIXTURE (the fixture's JSON file), LOKET_MANAGER_TOKEN and
LOKET_ARTIFACTS (where screenshots go).

Each page must load, show the fixture's numbers, log nothing at error level in the browser console
(which includes Content-Security-Policy violations), and fit a phone's width without sideways
scrolling of the page itself. Screenshots of every page, at desktop and phone width, are saved.
"""

import json
import os
import pathlib
import re

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

BASE = os.environ.get("LOKET_BASE_URL", "http://127.0.0.1:8080").rstrip("/")
ARTIFACTS = pathlib.Path(os.environ.get("LOKET_ARTIFACTS", pathlib.Path(__file__).parent / "artifacts"))
PHONE_WIDTH = 390
DESKTOP_WIDTH = 1280


@pytest.fixture(scope="session")
def fixture():
    with open(os.environ["LOKET_FIXTURE"], encoding="utf-8") as handle:
        return json.load(handle)


def make_driver(javascript=True):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("LOKET_CHROMIUM", "/usr/bin/chromium")
    # --no-sandbox: Chromium refuses to start as root (CI) with its sandbox on.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", f"--window-size={DESKTOP_WIDTH},900", "--lang=id",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Accept-Language comes from this preference, not from --lang: Indonesian, as in Serang.
    prefs = {"intl.accept_languages": "id,en"}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    # The driver's path is given so that Selenium never tries to download one.
    service = Service(os.environ.get("LOKET_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = make_driver()
    yield driver
    driver.quit()


def visit(driver, path):
    driver.get_log("browser")  # start each page with an empty log
    driver.set_window_size(DESKTOP_WIDTH, 900)
    driver.get(BASE + path)


def console_errors(driver, allowed=()):
    """Browser log entries at error level (script errors, CSP violations, failed loads)."""
    entries = driver.get_log("browser")
    return [entry for entry in entries
            if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in allowed)]


def screenshot(driver, name):
    """Full-page screenshots at desktop and phone width; the page must not scroll sideways on a phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, suffix in ((DESKTOP_WIDTH, ""), (PHONE_WIDTH, "-phone")):
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height + 120, 8000))
        driver.save_screenshot(str(ARTIFACTS / f"{name}{suffix}.png"))
        if width == PHONE_WIDTH:
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone screen"
    driver.set_window_size(DESKTOP_WIDTH, 900)


def replaced(element):
    """Whether the page holding `element` has been replaced by another. While Chromium swaps
    documents, asking about the old node can fail with errors other than 'stale element', so any
    WebDriver error counts as gone."""
    def check(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True
    return check


def follow(driver, element):
    """Clicks a link or button and waits until the browser has loaded the answer."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(replaced(page))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def submit(driver, selector):
    follow(driver, driver.find_element(By.CSS_SELECTOR, selector))


def text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def no_alert(driver):
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_transparency_page_shows_the_fixture_numbers_and_charts(browser, fixture):
    visit(browser, "/transparansi")
    assert browser.title.startswith("Transparansi")
    body = text(browser)
    assert fixture["unit_name"] in body
    assert fixture["ikm_id"] in body
    assert "3 dari 3" in body
    summary = {item.find_element(By.TAG_NAME, "dt").text: item.find_element(By.TAG_NAME, "dd").text
               for item in browser.find_elements(By.CSS_SELECTOR, "dl.stats > div")}
    assert summary["Permohonan ditutup"] == str(fixture["closed"])
    assert summary["Selesai tepat waktu"] == fixture["on_time_percent"]
    # Two inline SVG charts: on-time per unit and the monthly trend.
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) == 2
    assert charts[0].find_elements(By.CSS_SELECTOR, "rect.bar.t4"), "no full on-time bar"
    assert charts[1].find_elements(By.CSS_SELECTOR, "rect.vol"), "no volume bar in the trend"
    row = browser.find_element(By.XPATH, f"//table[@class='report']//tr[th[contains(., '{fixture['unit_name']}')]]")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == str(fixture["closed"]) and cells[1] == fixture["on_time_percent"]
    assert console_errors(browser) == []
    screenshot(browser, "transparansi")


def test_transparency_in_english_and_its_open_data_links(browser, fixture):
    visit(browser, "/transparansi?lang=en")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    body = text(browser)
    assert fixture["ikm_en"] in body and "3 of 3" in body
    links = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "#data-terbuka ~ ul a")]
    assert any("/api/v1/public/transparency.csv?by=unit" in link for link in links)
    assert console_errors(browser) == []
    screenshot(browser, "transparency-en")
    # The language switch goes back to Indonesian on the same page.
    submit(browser, "a.lang")
    assert "Transparansi kinerja layanan" in text(browser)
    assert console_errors(browser) == []


def test_catalog_lists_services_with_fees_and_targets(browser):
    visit(browser, "/layanan")
    body = text(browser)
    assert "Penerbitan Kartu Keluarga (KK)" in body
    assert "Rp 0" in body and "hari kerja" in body
    assert console_errors(browser) == []
    screenshot(browser, "layanan")
    follow(browser, browser.find_element(By.LINK_TEXT, "Penerbitan Kartu Keluarga (KK)"))
    assert browser.current_url.endswith("/layanan/kk-baru")
    body = text(browser)
    assert "Formulir Biodata Keluarga (F-1.01) yang telah diisi" in body
    assert "3 hari kerja" in body
    assert console_errors(browser) == []
    screenshot(browser, "layanan-kk-baru")


def test_tracking_form_shows_status_timeline_and_the_officers_question(browser, fixture):
    visit(browser, "/lacak")
    browser.find_element(By.NAME, "tracking_code").send_keys(fixture["waiting"]["code"])
    browser.find_element(By.NAME, "access_token").send_keys(fixture["waiting"]["token"])
    submit(browser, "form.stack button[type=submit]")
    # POSTed: the token is in no URL.
    assert browser.current_url == BASE + "/lacak"
    body = text(browser)
    assert fixture["waiting"]["code"] in body
    assert "menunggu tanggapan pemohon" in body
    assert fixture["unit_name"] in body
    # The officer's question, with its markup shown as text, not run.
    assert "Mohon unggah buku nikah. <script>alert(1)</script>" in body
    assert no_alert(browser)
    assert "Permohonan diterima" in body and "Mulai ditangani petugas" in body
    assert console_errors(browser) == []
    screenshot(browser, "lacak-hasil")


def test_tracking_refuses_a_wrong_token_with_the_api_code(browser, fixture):
    visit(browser, "/lacak")
    browser.find_element(By.NAME, "tracking_code").send_keys(fixture["completed"]["code"])
    browser.find_element(By.NAME, "access_token").send_keys("bukan-token-yang-benar")
    submit(browser, "form.stack button[type=submit]")
    body = text(browser)
    assert "access_token_invalid" in body
    assert "KK dapat diambil" not in body
    # The 403 itself is logged by Chromium as a failed load; nothing else may be.
    assert console_errors(browser, allowed=("status of 403",)) == []
    screenshot(browser, "lacak-token-salah")


def test_dashboard_sign_in_breaches_heat_map_trend_and_sign_out(browser, fixture):
    visit(browser, "/dasbor")
    assert "/dasbor/masuk" in browser.current_url
    assert console_errors(browser) == []
    screenshot(browser, "dasbor-masuk")
    browser.find_element(By.NAME, "token").send_keys(os.environ["LOKET_MANAGER_TOKEN"])
    submit(browser, "form.stack button[type=submit]")
    assert browser.current_url == BASE + "/dasbor"
    body = text(browser)
    assert "Dasbor manajer" in body
    # The request whose deadline run.sh moved into the past is an open breach.
    breaches = browser.find_element(By.CSS_SELECTOR, "table.breaches").text
    assert fixture["queued"]["code"] in breaches
    heat = browser.find_element(By.CSS_SELECTOR, "table.heatmap")
    assert fixture["unit_name"] in heat.text
    assert heat.find_elements(By.XPATH, ".//td[@class='t4' and normalize-space()='100%']")
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg rect.vol")
    # The session cookie is not readable by scripts.
    assert "loket_session" not in browser.execute_script("return document.cookie")
    cookie = browser.get_cookie("loket_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert os.environ["LOKET_MANAGER_TOKEN"] not in cookie["value"]
    assert console_errors(browser) == []
    screenshot(browser, "dasbor")
    submit(browser, ".whoami button[type=submit]")
    assert "/dasbor/masuk" in browser.current_url
    assert "Anda telah keluar." in text(browser)
    visit(browser, "/dasbor")
    assert "/dasbor/masuk" in browser.current_url
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def plain_browser():
    """A browser with JavaScript switched off."""
    driver = make_driver(javascript=False)
    yield driver
    driver.quit()


def test_everything_works_without_javascript(plain_browser, fixture):
    driver = plain_browser
    visit(driver, "/lacak?lang=en")
    driver.find_element(By.NAME, "tracking_code").send_keys(fixture["completed"]["code"])
    driver.find_element(By.NAME, "access_token").send_keys(fixture["completed"]["token"])
    submit(driver, "form.stack button[type=submit]")
    body = text(driver)
    assert "completed" in body and "KK dapat diambil di loket 3 <b>dengan</b> KTP asli." in body
    assert console_errors(driver) == []
    visit(driver, "/dasbor/masuk")
    driver.find_element(By.NAME, "token").send_keys(os.environ["LOKET_MANAGER_TOKEN"])
    submit(driver, "form.stack button[type=submit]")
    assert re.search(r"/dasbor$", driver.current_url)
    assert fixture["queued"]["code"] in text(driver)
    assert console_errors(driver) == []
    screenshot(driver, "tanpa-javascript-dasbor")
