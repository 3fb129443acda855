"""The Predict page with AppTest on the real router, served by a tiny real local model.

Aliases in both Pokémon boxes, a matchup that survives a page switch, the model-vs-simulator
warning on a planted disagreement, the plain-language "Why", the heat map's CSV, and the batch
upload (mixed valid/invalid rows; an unusable file is one message).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.explanations import reasons_from
from core import artifacts
from core.config import Settings
from core.pokedex import load_pokedex
from tests.tiny_models import write_matchup_model

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
RUN_TIMEOUT = 60.0
README_ALIASES = {
    "Alolan Raichu": "raichualola",
    "Raichu-Alola": "raichualola",
    "Mega Charizard X": "charizardmegax",
    "Mr. Mime": "mrmime",
    "Farfetch'd": "farfetchd",
    "Partner Pikachu": "pikachustarter",
    "Partner Eevee": "eeveestarter",
}


def models_dir(root: Path, faster_wins: bool) -> Path:
    """A models/ folder holding one tiny real model as the local fallback (version 3)."""
    write_matchup_model(root / "tiny", faster_wins=faster_wins)
    artifacts.install_local_model(root / "tiny", root / "models", Settings().model_name, "3")
    return root / "models"


@pytest.fixture(scope="module")
def honest_models(tmp_path_factory) -> Path:
    return models_dir(tmp_path_factory.mktemp("honest"), faster_wins=True)


@pytest.fixture(scope="module")
def contrary_models(tmp_path_factory) -> Path:
    """A model that learned the opposite of the Speed edge: it disagrees with the simulator."""
    return models_dir(tmp_path_factory.mktemp("contrary"), faster_wins=False)


def serve_local(monkeypatch: pytest.MonkeyPatch, models: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("USE_MLFLOW_REGISTRY", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("PREDICTIONDEX_MODELS_DIR", str(models))
    monkeypatch.setenv("PREDICTIONDEX_ARTIFACTS_DIR", str(tmp_path / "mlartifacts"))
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def honest(monkeypatch, honest_models, tmp_path) -> None:
    serve_local(monkeypatch, honest_models, tmp_path)


def open_predict() -> AppTest:
    app = AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT)
    app.run()
    app.switch_page("../pages/predict.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def choose_by_typing(app: AppTest, key: str, typed: str) -> str:
    """What a user gets by typing `typed` in a select box: the option whose label contains it."""
    box = app.selectbox(key=key)
    matches = [i for i, label in enumerate(box.options) if typed.lower() in label.lower()]
    assert matches, f"{typed!r} finds nothing in {key}"
    box.select_index(matches[0]).run()
    assert not app.exception, [e.value for e in app.exception]
    return app.selectbox(key=key).value


def test_every_readme_alias_finds_its_pokemon_in_both_boxes(honest):
    app = open_predict()
    dex = load_pokedex()
    for alias, expected in README_ALIASES.items():
        assert dex.resolve_pokemon(alias).id == expected  # the CLI and the API agree
        assert choose_by_typing(app, "predict_pokemon_a", alias) == expected, alias
        assert choose_by_typing(app, "predict_pokemon_b", alias) == expected, alias
        name = dex.get(expected).name
        assert any(name in text for text in texts(app.markdown)), alias  # the cards show it


def test_the_matchup_and_its_answer_survive_a_page_switch(honest):
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("venusaur")
    app.selectbox(key="predict_pokemon_b").set_value("dragonite").run()
    app.slider(key="predict_level_a").set_value(42)
    app.multiselect(key="predict_moves_a_venusaur").set_value(["sludgebomb"])
    app.button(key="predict_ask").click().run()
    answer = [t for t in texts(app.caption) if t.startswith("Venusaur (level 42): Sludge Bomb ·")]
    assert answer, texts(app.caption)
    app.switch_page("../pages/home.py").run()
    assert not app.exception
    app.switch_page("../pages/predict.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.selectbox(key="predict_pokemon_a").value == "venusaur"
    assert app.selectbox(key="predict_pokemon_b").value == "dragonite"
    assert app.slider(key="predict_level_a").value == 42
    assert app.multiselect(key="predict_moves_a_venusaur").value == ["sludgebomb"]
    assert [t for t in texts(app.caption) if t.startswith("Venusaur (level 42)")] == answer
    # Changing the matchup changes the answer with it: never an answer for another matchup.
    app.selectbox(key="predict_pokemon_b").set_value("onix").run()
    assert any("Onix (level 50)" in t for t in texts(app.caption))
    assert not any("Dragonite (level" in t for t in texts(app.caption))


def test_a_planted_disagreement_with_the_simulator_is_a_visible_warning(
    monkeypatch, contrary_models, tmp_path
):
    serve_local(monkeypatch, contrary_models, tmp_path)
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("mewtwo")
    app.selectbox(key="predict_pokemon_b").set_value("slowpoke").run()
    app.button(key="predict_ask").click().run()
    assert not any("disagree" in t for t in texts(app.warning))  # nothing simulated yet
    app.button(key="predict_simulate").click().run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    model, simulated = (
        float(metrics[k].rstrip("%")) for k in ("P(Mewtwo wins)", "Simulator, 1,000 battles")
    )
    assert simulated > 90 and abs(model - simulated) > 10, metrics
    warning = next(t for t in texts(app.warning) if "disagree" in t)
    assert f"disagree by {abs(model - simulated):.1f} points" in warning
    # From a new user's trial (a drain matchup, on a model trained before the drain fix): the
    # warning claimed 'a model trained on more battles usually closes the gap', a cause it cannot
    # know. It gives the difference and the simulator's interval, and points to the README's
    # known weak spots and to retraining, without naming a cause.
    assert "more battles" not in warning and "closes the gap" not in warning
    caption = next(t for t in texts(app.caption) if t.startswith("Simulator's 95% interval"))
    interval = caption.split(": ", 1)[1].split(" (")[0]  # '97.1%–99.0%'
    assert f"95% interval {interval} from 1,000 battles" in warning, (warning, caption)
    assert "README.md › Evaluation against the truth › Known weak spot" in warning
    assert "retrain it" in warning and "v3 (local fallback)" in warning
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Evaluation against the truth", 1)[1].split("\n### ", 1)[0]
    assert "**Known weak spot**" in section  # where the warning points


def test_why_names_the_pokemon_and_says_what_zero_means(honest):
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("venusaur")
    app.selectbox(key="predict_pokemon_b").set_value("dragonite").run()
    app.button(key="predict_ask").click().run()
    caption = next(t for t in texts(app.caption) if t.startswith("Each bar"))
    assert "Zero is the model's base rate (P(Venusaur wins) = " in caption
    assert "right for Venusaur, left for Dragonite" in caption
    chart = next(c for c in app.get("plotly_chart") if "contributions" in str(c.proto.id))
    assert "A " not in chart.proto.spec and "B " not in chart.proto.spec


def test_the_simulator_note_is_for_players_and_points_to_the_readme(honest):
    """What the simulator leaves out, in plain words: no code names from the README's developer
    text (a new user found `numpy.random.Generator` in it), and where the full rules are."""
    app = open_predict()
    note = next(e for e in app.expander if e.label == "What the simulator leaves out")
    shown = " ".join(texts(note.markdown) + texts(note.caption))
    assert "no status conditions, abilities" in shown and "Foul Play" in shown
    assert "README.md › How it works › The battle simulator" in shown
    assert "`" not in shown and "numpy" not in shown and "python -m" not in shown


def test_same_valued_features_are_one_bar_and_labels_are_sentences():
    values = {"a_level": 50.0, "b_level": 50.0, "a_stat_spe": 100.0, "b_stat_spe": 80.0,
              "a_expected_damage_share": 0.21, "b_expected_damage_share": 0.10,
              "expected_damage_share_difference": 0.11}  # fmt: skip
    contributions = {"a_level": 0.3, "b_level": -0.3, "a_stat_spe": 0.2, "b_stat_spe": 0.1,
                     "a_expected_damage_share": 0.0, "b_expected_damage_share": 0.0,
                     "expected_damage_share_difference": 0.5}  # fmt: skip
    reasons = {
        r.label: r.contribution
        for r in reasons_from(values, contributions, "Dragonite", "Venusaur")
    }
    assert reasons["Dragonite's best move does 2.1× more of Venusaur's HP per turn"] == 0.5
    assert reasons["Both Dragonite and Venusaur: level 50"] == 0.0  # not +0.3 and -0.3
    assert reasons["Dragonite has Speed 100"] == 0.2 and reasons["Venusaur has Speed 80"] == 0.1


def test_heat_map_takes_twenty_pokemon_and_downloads_as_csv(honest):
    app = open_predict()
    group = load_pokedex().pokemon_ids[:20]
    app.multiselect(key="predict_group").set_value(group).run()
    assert not app.exception
    assert app.get("download_button"), "the heat map has a download"
    from app.charts import matchup_heatmap, short_labels

    labels = short_labels([load_pokedex().get(pid).name for pid in group])
    assert len(set(labels)) == 20 and max(map(len, labels)) <= 12
    # Readable at 390 px: a 20-wide matrix gets the whole width (colour bar underneath), each
    # cell holds a two-digit number, and the fonts stay at 9 px or more.
    dex = load_pokedex()
    assert app.session_state["predict_memory"]["predict_group"] == group  # remembered
    frame = pd.DataFrame(0.5, index=group, columns=group)
    figure = matchup_heatmap(frame, {pid: dex.get(pid).name for pid in group})
    heat = figure.data[0]
    assert heat.colorbar.orientation == "h" and heat.textfont.size >= 9
    assert all(len(cell) <= 3 for row in heat.text for cell in row)
    assert figure.layout.xaxis.tickfont.size >= 9 and figure.layout.yaxis.tickfont.size >= 9


def batch_upload(app: AppTest, name: str, data: bytes) -> AppTest:
    app.get("file_uploader")[0].set_value((name, data, "text/csv"))
    return app.run()


def test_batch_with_valid_and_invalid_rows_returns_both_lists(honest):
    app = open_predict()
    data = (
        b"pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b\n"
        b"Venusaur,Dragonite,,,,\nAlolan Raichu,Mega Charizard X,40,60,,\n\n"
        b"Pikachuu,Onix,,,,\nPikachu,Onix,abc,,,\nPikachu,Onix,,,Surf,\n"
        b"\"=cmd|' /C calc'!A0\",Onix,,,,\n"
    )
    batch_upload(app, "mixed.csv", data)
    assert not app.exception, [e.value for e in app.exception]
    assert any(
        "2 of 7 rows answered by" in t and "v3 (local fallback)" in t for t in texts(app.success)
    )
    assert any("5 row(s) could not be answered" in t for t in texts(app.error))
    frames = [frame.value for frame in app.dataframe]
    answered = next(f for f in frames if "winner" in f.columns)
    refused = next(f for f in frames if "error" in f.columns)
    assert answered["row"].tolist() == [1, 2] and set(answered["model_version"]) == {"3"}
    assert refused["row"].tolist() == [3, 4, 5, 6, 7]  # the blank line 3 included
    assert "line is blank" in refused["error"].iloc[0]
    assert "Closest matches: Pikachu" in refused["error"].iloc[1]
    # A refused row keeps its cells as given: the level it could not read, the move it refused.
    assert refused.set_index("row").loc[5, ["pokemon_a", "level_a"]].tolist() == ["Pikachu", "abc"]
    assert refused.set_index("row").loc[6, "moves_a"] == "Surf"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"),
        ("pokemon_a,pokemon_b\nFlabébé,Onix\n".encode("latin-1"), "not UTF-8"),
        (b"pokemon_a,pokemon_b\n" + b"Mew,Onix\n" * 10_001, "more than 10,000 rows"),
        (b"pokemon_a,pokemon_b\n" + b"x" * (2 * 2**20), "at most 2 MB"),
    ],
    ids=["empty", "binary", "latin1", "10001 rows", "oversized"],
)
def test_an_unusable_upload_is_one_clear_message(honest, data, message):
    app = batch_upload(open_predict(), "bad.csv", data)
    assert not app.exception, [e.value for e in app.exception]
    errors = [t for t in texts(app.error) if message in t]
    assert len(errors) == 1 and errors[0].startswith("Could not read this batch: ")
    assert "UTF-8" in errors[0] or "Split it" in errors[0]  # says what to do
    assert not app.get("download_button") or all(
        b.proto.label != "Download the answers (CSV)" for b in app.get("download_button")
    )


def test_the_downloaded_batch_is_formula_safe(honest):
    from core.predict.batch_csv import write_batch_csv

    app = batch_upload(
        open_predict(), "x.csv", b'pokemon_a,pokemon_b\n"@SUM(1+1)",Onix\nMew,Onix\n'
    )
    assert not app.exception
    download = next(b for b in app.get("download_button") if "answers" in b.proto.label)
    assert download.proto.label == "Download the answers (CSV)"
    served = app.session_state["predict_batch_result"][1]
    cells = [
        c for line in csv.reader(io.StringIO(write_batch_csv(served.table).decode())) for c in line
    ]
    assert "'@SUM(1+1)" in cells and not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_the_reasons_explain_the_served_answer(honest_models):
    """Their sum has the sign of the served lead over ½ (XGBoost: half the margins' difference),
    and a mirror match has no reason at all: the model's own bias cancels."""
    from app.explanations import explain_prediction
    from core.predict import PredictionModel

    model = PredictionModel(Settings(use_registry=False, models_dir=honest_models))
    served = model.get_model()
    for a, b in [("mewtwo", "magikarp"), ("slowpoke", "jolteon"), ("onix", "onix")]:
        prediction = model.predict_winner(a, b)
        explanation = explain_prediction(served, prediction, top=1000)
        total = sum(reason.contribution for reason in explanation.reasons)
        lead = prediction.p_a_wins - 0.5
        assert explanation.base_rate == 0.5
        if a == b:
            assert lead == 0 and all(r.contribution == 0 for r in explanation.reasons)
        else:
            assert lead != 0 and total * lead > 0, (a, b, total, lead)


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0.0, "0.0%"), (0.0003, "< 0.1%"), (0.0006, "0.1%"), (0.5, "50.0%"), (0.9997, "> 99.9%"),
     (1.0, "100.0%")],
)  # fmt: skip
def test_probabilities_never_read_as_a_misleading_zero(p: float, shown: str) -> None:
    """A 0.03% chance is not "0.0%": the page says "< 0.1%" (a new user saw 0.0%)."""
    from app.components import percent

    assert percent(p) == shown


def test_the_uploader_limit_is_the_batch_limit() -> None:
    """Streamlit's uploader says and enforces the batch CSV's 2 MB, not its default 200 MB."""
    import tomllib

    from core.predict.batch_csv import MAX_BATCH_BYTES

    config = tomllib.loads(
        (Path(__file__).parent.parent / ".streamlit" / "config.toml").read_text()
    )
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_BATCH_BYTES


# ---------------------------------------------------------------------------------------------
# How sure: the simulator's interval, moves by what they do, mirrors are even (trial finding 10)


def wilson(wins: int, battles: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval by its textbook formula: an independent check of the page's."""
    share = wins / battles
    centre = (share + z * z / (2 * battles)) / (1 + z * z / battles)
    half = (
        z
        / (1 + z * z / battles)
        * (share * (1 - share) / battles + z * z / (4 * battles**2)) ** 0.5
    )
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("p_model", "share", "battles", "within"),
    [(0.95, 0.961, 1000, True), (0.939, 0.961, 1000, False), (0.5, 0.5, 1000, True),
     (0.97, 1.0, 1000, False), (0.999, 1.0, 1000, True), (0.52, 0.5, 100, True)],
)  # fmt: skip
def test_the_simulator_share_has_its_95_percent_interval(p_model, share, battles, within):
    """A user read 'Simulator, 1,000 battles 96.1 %, model −2.2 pts' with no interval (±1.2
    pts at 95 %): the comparison carries the Wilson interval and says if the model is inside."""
    from app.predict_view import compare_with_simulator

    check = compare_with_simulator(p_model, share, battles)
    low, high = wilson(round(share * battles), battles)
    assert check.low == pytest.approx(low, abs=1e-9) and check.high == pytest.approx(high, abs=1e-9)
    assert check.within is within
    assert check.gap_points == pytest.approx(100 * (p_model - share))
    assert ("within" if within else "outside") in check.verdict


def metric(app: AppTest, label: str):
    return next(m for m in app.metric if m.label == label)


def test_the_simulator_metric_shows_its_interval_and_the_warning_stays(
    monkeypatch, contrary_models, tmp_path
):
    serve_local(monkeypatch, contrary_models, tmp_path)
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("mewtwo")
    app.selectbox(key="predict_pokemon_b").set_value("slowpoke").run()
    app.button(key="predict_simulate").click().run()
    assert not app.exception, [e.value for e in app.exception]
    shown = metric(app, "Simulator, 1,000 battles")
    wins = round(float(shown.value.rstrip("%")) * 10)
    low, high = wilson(wins, 1000)
    assert shown.delta.endswith("pts, outside the 95% interval"), shown.delta
    caption = next(t for t in texts(app.caption) if t.startswith("Simulator's 95% interval"))
    assert f"{low:.1%}–{high:.1%}" in caption and "1,000 battles" in caption, caption
    assert any("disagree by" in t for t in texts(app.warning))  # the >10-point warning stays


def test_moves_whose_damage_is_not_their_power_say_what_they_do(honest):
    """'Seismic Toss (Fighting, 0)' hid level damage; every power-0 move the simulator knows
    reads as its rule, and Pikachu's move box shows it."""
    from app.predict_view import move_label

    dex = load_pokedex()
    assert move_label(dex, "seismictoss") == "Seismic Toss (Fighting, damage = level)"
    assert move_label(dex, "nightshade") == "Night Shade (Ghost, damage = level)"
    assert move_label(dex, "dragonrage") == "Dragon Rage (Dragon, fixed 40 damage)"
    assert move_label(dex, "sonicboom") == "Sonic Boom (Normal, fixed 20 damage)"
    assert move_label(dex, "superfang") == "Super Fang (Normal, half the target's HP)"
    assert move_label(dex, "thunderbolt") == "Thunderbolt (Electric, 90)"
    assert not [m for m in dex.moves if move_label(dex, m).endswith(", 0)")]
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("pikachu").run()
    options = app.multiselect(key="predict_moves_a_pikachu").options
    assert "Seismic Toss (Fighting, damage = level)" in options, options
    assert not [o for o in options if o.endswith(", 0)")]


def test_a_mirror_match_is_even_and_names_its_sides(honest):
    app = open_predict()
    app.selectbox(key="predict_pokemon_a").set_value("pikachu")
    app.selectbox(key="predict_pokemon_b").set_value("pikachu").run()
    app.button(key="predict_ask").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert texts(app.subheader)[0] == "Even: neither side is favoured"
    labels = [m.label for m in app.metric]
    assert "P(Pikachu (A) wins)" in labels and "P(Pikachu (B) wins)" in labels, labels
    assert "P(Pikachu wins)" not in labels
    why = next(t for t in texts(app.caption) if t.startswith("Each bar"))
    assert "right for Pikachu (A), left for Pikachu (B)" in why, why
    assert any(t.startswith("Pikachu (A), level 50: ") for t in texts(app.caption))


def test_the_why_of_a_mirror_and_of_a_power_zero_move_reads_right():
    """A mirror's reasons name 'Pikachu (A)' and 'Pikachu (B)'; a best move of power 0 (Seismic
    Toss, Pikachu's default first move) is not 'power 0'."""
    from app.explanations import side_names

    assert side_names("Pikachu", "Pikachu") == ("Pikachu (A)", "Pikachu (B)")
    assert side_names("Pikachu", "Onix") == ("Pikachu", "Onix")
    values = {"a_move_power": 0.0, "b_move_power": 40.0, "a_level": 50.0, "b_level": 50.0}
    contributions = {"a_move_power": 0.2, "b_move_power": -0.1, "a_level": 0.0, "b_level": 0.0}
    labels = [
        r.label for r in reasons_from(values, contributions, *side_names("Pikachu", "Pikachu"))
    ]
    assert (
        "Pikachu (A)'s best move does set damage (its level, a fixed amount or half the HP)"
        in labels
    )
    assert "Pikachu (B)'s best move has power 40" in labels
    assert "Both Pikachu (A) and Pikachu (B): level 50" in labels
    assert not [label for label in labels if "power 0" in label]
