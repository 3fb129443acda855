"""The real dashboard in a real browser: Playwright driving Debian's chromium (never downloaded).

`python -m streamlit run app/main.py` runs on 127.0.0.1 against a store in tmp_path with three
small real models, and is stopped by PID. The test trains a fourth version from the Train page
(the progress refreshes by itself), sees the versions on the Models page, asks the Predict page
who wins, and takes a screenshot of every page (into docs/ for the README with `make screenshots`).
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from core.train import TrainConfig, train_model
from tests.servers import clean_env, spawn_on_free_port

ROOT = Path(__file__).resolve().parent.parent
# Screenshots go to a temporary folder, so `make test` leaves the tree clean; `make screenshots`
# sets SCREENSHOTS_DIR=docs to refresh the README's pictures.
SHOTS_VARIABLE = "SCREENSHOTS_DIR"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 4200
SMALL = {"n_battles": 4000, "oracle_sample": 200, "oracle_replays": 100}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def healthy(url: str) -> bool:
    """True when Streamlit's health endpoint answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Three real versions: v1 and v3 promoted in turn (an audit trail), v2 registered only."""
    root = tmp_path_factory.mktemp("browser-store")
    settings = Settings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_dir=root / "mlartifacts",
        models_dir=root / "models",
    )
    train_model(TrainConfig(**SMALL, threshold=0.0, version_label="v1"), settings)
    train_model(
        TrainConfig(
            **SMALL,
            model_type="random_forest",
            params={"n_estimators": 60},
            seed=7,
            threshold=1.0,
            version_label="forest",
        ),
        settings,
    )
    train_model(
        TrainConfig(
            **SMALL,
            params={"max_depth": 4},
            seed=11,
            threshold=0.0,
            version_label="v3",
            promotion_policy="threshold",  # promoted whatever v1 does: an audit trail to show
        ),
        settings,
    )
    return settings


@pytest.fixture(scope="module")
def dashboard(store: Settings) -> Iterator[str]:
    """The real app on a free port of 127.0.0.1; stopped by PID (with everything it spawned)."""
    env = clean_env(
        MLFLOW_TRACKING_URI=store.tracking_uri,
        PREDICTIONDEX_ARTIFACTS_DIR=str(store.artifacts_dir),
        PREDICTIONDEX_MODELS_DIR=str(store.models_dir),
    )
    env = {k: v for k, v in env.items() if not k.startswith("PREDICTIONDEX_APPROVERS")}

    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", "app/main.py",
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ]  # fmt: skip

    # Retried on a new port if another test process takes this one first (xdist).
    process, port = spawn_on_free_port(
        "streamlit",
        command,
        lambda port: healthy(f"http://127.0.0.1:{port}/_stcore/health"),
        env=env,
        cwd=ROOT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(dashboard: str):
    """One headless chromium (Debian's binary, no network extras) for the module.

    One Playwright for every test of the module: a second sync_playwright() inside the first one's
    lifetime fails ("Sync API inside the asyncio loop").
    """
    if not CHROMIUM.is_file():
        pytest.fail(
            "Debian's chromium is not installed: run `make system-deps` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser_page(browser):
    """A page in light mode, shared by the module's tests."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    yield page
    page.close()


def settle(page) -> None:
    """Wait until Streamlit has finished the current run (no 'Running…' widget)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    page.wait_for_timeout(800)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SCREENSHOTS_DIR (docs/ for `make screenshots`) or a
    temporary folder."""
    chosen = os.environ.get(SHOTS_VARIABLE, "").strip()
    folder = (ROOT / chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str, folder: Path) -> Path:
    """A screenshot of the whole page: the viewport grows to the height of the content."""
    script = (
        "() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
        " return main ? main.scrollHeight : document.body.scrollHeight; }"
    )
    height = VIEWPORT["height"]
    for attempt in range(4):  # charts may lengthen the page once drawn at the new size
        content = int(page.evaluate(script))
        if attempt and content <= height:
            break
        height = min(content + 40, MAX_SCREENSHOT_HEIGHT)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(1500)  # plotly redraws at the new size
    path = folder / f"screenshot-{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    return path


def choose(page, label: str, text: str) -> None:
    """Pick an option of a searchable st.selectbox by typing it."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.keyboard.type(text)
    page.get_by_role("option", name=re.compile(re.escape(text))).first.click()
    settle(page)


def test_train_models_predict_in_a_real_browser(dashboard: str, browser_page, shots: Path) -> None:
    """Train from the page, see the versions, ask who wins; screenshots of every page."""
    page = browser_page

    page.goto(f"{dashboard}/train")
    settle(page)
    page.get_by_label("Battles to simulate", exact=True).fill(str(SMALL["n_battles"]))
    page.get_by_text("Oracle measurement").click()
    page.get_by_label("Test battles re-simulated", exact=True).fill(str(SMALL["oracle_sample"]))
    page.get_by_label("Replays per battle", exact=True).fill(str(SMALL["oracle_replays"]))
    page.get_by_label("Version label (optional)", exact=True).fill("from the browser")
    page.get_by_role("button", name="Train").click()
    # Nobody clicks: the progress fragment refreshes by itself until the result shows.
    page.get_by_text(re.compile(r"Registered as version \d+")).wait_for(timeout=180_000)
    settle(page)
    registered = page.get_by_text(re.compile(r"Registered as version \d+")).inner_text()
    version = int(re.search(r"version (\d+)", registered).group(1))
    assert version == 4
    run_link = page.get_by_role("link", name="Open the run in MLflow")
    run_link.first.wait_for()  # the result panel's link may be drawn a moment after its text
    assert run_link.count() == 1
    screenshot(page, "train", shots)

    page.goto(f"{dashboard}/models")
    settle(page)
    page.get_by_test_id("stDataFrame").first.wait_for()
    versions = page.get_by_test_id("stMetric").filter(has_text="Versions").inner_text()
    assert versions.split()[-1] == "4"
    # The grid is drawn on a canvas; its accessible twin holds the cell values.
    cells = page.get_by_test_id("stDataFrame").first.locator("[role=gridcell]")
    cells.first.wait_for(state="attached")
    values = cells.all_text_contents()
    assert {"1", "2", "3", "4", "Production", "random_forest"} <= set(values)
    choose(page, "Version", 'v2 "forest"')
    page.get_by_text("v2 against Production").wait_for()
    screenshot(page, "models", shots)
    # Champion/challenger for two versions that are not Production: the verdict on fresh battles.
    choose(page, "Compare with", 'v1 "v1"')
    page.get_by_role("button", name="Compare v2 with v1 on fresh battles").click()
    page.get_by_text("v2 against v1:").wait_for(timeout=180_000)
    settle(page)
    assert "McNemar" in page.locator("p", has_text="v2 against v1:").first.inner_text()
    screenshot(page, "models-compare", shots)

    page.goto(f"{dashboard}/predict")
    settle(page)
    choose(page, "Pokémon A", "Mewtwo")
    choose(page, "Pokémon B", "Magikarp")
    page.get_by_role("button", name="Predict the winner").click()
    heading = page.locator("h3", has_text=" wins").first
    heading.wait_for()
    settle(page)
    assert heading.inner_text().strip().startswith("Mewtwo wins")
    answered = page.get_by_test_id("stMetric").filter(has_text="Answered by").inner_text()
    assert "registry" in answered
    screenshot(page, "predict", shots)

    page.goto(dashboard)
    settle(page)
    page.get_by_text("Registered versions").wait_for()
    screenshot(page, "home", shots)
    for name in ("home", "train", "models", "models-compare", "predict"):
        assert (shots / f"screenshot-{name}.png").stat().st_size > 20_000


def _luminance(css_colour: str) -> float:
    """Relative brightness 0..1 of an 'rgb(r, g, b)' / 'rgba(...)' colour."""
    red, green, blue = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_dark_mode_follows_the_system_with_the_brand_colour(
    dashboard: str, browser, shots: Path
) -> None:
    """A browser in dark mode gets the dark theme, the brand-red primary button; screenshot."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(dashboard)
        settle(page)
        page.get_by_text("Registered versions").wait_for()
        page.locator(".js-plotly-plot .main-svg").first.wait_for()  # the chart is drawn
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
            ".backgroundColor"
        )
        assert _luminance(background) < 0.25, background
        screenshot(page, "home-dark", shots)

        page.goto(f"{dashboard}/train")
        settle(page)
        button = page.get_by_test_id("stBaseButton-primaryFormSubmit").first
        colour = button.evaluate("(element) => getComputedStyle(element).backgroundColor")
        assert colour.replace(" ", "") == "rgb(227,53,13)", colour  # #E3350D
    finally:
        context.close()
    assert (shots / "screenshot-home-dark.png").stat().st_size > 20_000


def test_aliases_and_a_batch_upload_and_download_in_a_real_browser(
    dashboard: str, browser_page, tmp_path: Path
) -> None:
    """Type an alias in the real select box's filter; upload a CSV, download the answers."""
    page = browser_page
    page.goto(f"{dashboard}/predict")
    settle(page)
    choose(page, "Pokémon A", "Alolan Raichu")  # the browser's own filter finds the alias
    choose(page, "Pokémon B", "Mega Charizard X")
    page.get_by_text("#026 Raichu-Alola", exact=True).first.wait_for()  # A's card
    page.get_by_text("#006 Charizard-Mega-X", exact=True).first.wait_for()  # B's card

    upload = tmp_path / "matchups.csv"
    upload.write_text(
        "pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b\n"
        "Venusaur,Dragonite,,,,\nMr. Mime,Farfetch'd,30,70,,\nPikachuu,Onix,,,,\n"
        "\"=cmd|' /C calc'!A0\",Onix,,,,\n",
        encoding="utf-8",
    )
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text(re.compile(r"2 of 4 rows answered by")).wait_for(timeout=60_000)
    settle(page)
    page.get_by_text(re.compile(r"2 row\(s\) could not be answered")).wait_for()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the answers (CSV)").click()
    saved = tmp_path / "answers.csv"
    download_info.value.save_as(str(saved))
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("row,pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b,p_a_wins")
    assert lines[1].startswith("1,Venusaur,Dragonite,50,50,")
    assert lines[2].startswith("2,Mr. Mime,Farfetch’d,30,70,")
    assert "Closest matches: Pikachu" in lines[3]
    assert lines[4].startswith("4,'=cmd|")  # neutralised for spreadsheets


def test_the_sidebar_shows_the_new_production_right_after_a_promotion(
    dashboard: str, browser_page
) -> None:
    """Promote from the Models page: the same screen's sidebar and picker say so, no extra click."""
    page = browser_page
    page.goto(f"{dashboard}/models")
    settle(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text(re.compile(r"Serving v\d+ from the registry")).wait_for()
    assert "Serving v2 " not in sidebar.inner_text()  # v2 ("forest") was never promoted
    choose(page, "Version", 'v2 "forest"')
    page.get_by_role("button", name="Promote v2 to Production").click()
    settle(page)
    page.get_by_label("Reason (kept in the audit trail with your name)").fill("the forest wins")
    page.get_by_role("button", name="Confirm", exact=True).click()
    page.get_by_text("Version 2 is now Production").wait_for(timeout=60_000)
    settle(page)
    # Nothing else is clicked: the run that confirmed already shows the new holder everywhere.
    assert re.search(r"Serving v2 from the registry", sidebar.inner_text()), sidebar.inner_text()
    assert page.get_by_text("v2 is the Production version.").count() == 1  # the picker's row
    production = page.get_by_test_id("stMetric").filter(has_text="Production").first.inner_text()
    assert production.split()[-1] == "v2", production
