"""Hostile input: every payload gets a clear one-line error and changes nothing; none runs code.

Payloads: path traversal, control and invisible characters, 10,000-character strings, Unicode
look-alikes, shell/template/SQL "code" payloads (each would create a marker file if anything ever
ran it), malformed model names and versions, hyperparameters and dataset sizes at extremes.
Interfaces: the Python APIs (core.battle.win_probability, core.predict.predict_winner, the
registry, training) and the CLIs (`python -m core.battle`, `core.predict`, `core.registry`,
`core.train`): each CLI's main() in a worker process for every payload, plus real processes for
a sample; and the Predict page's batch upload (hostile files, hostile rows, a formula-safe
download). Each payload x interface counts once in "payloads tried".
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from core import battle
from core.config import PROJECT_ROOT, Settings
from core.pokedex import PokedexError
from core.predict import PredictionModel
from core.registry import MODEL_NAME_PATTERN, MLflowTracker, RegistryError, load_model_from_registry
from core.train import TrainConfig, train_model, validate_params
from tests.reliability.harness import TINY_TRAINING, run_cli, sqlite_settings, workers

pytestmark = pytest.mark.reliability

MAX_MESSAGE_CHARS = 400
CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def code_payloads(marker: Path) -> list[str]:
    """Strings that would create `marker` if a shell, eval, template or SQL engine ran them."""
    return [
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; touch {marker}",
        f"| touch {marker}",
        f"&& touch {marker} &&",
        f"__import__('os').system('touch {marker}')",
        f"{{{{ __import__('os').system('touch {marker}') }}}}",
        f"${{jndi:ldap://127.0.0.1/{marker}}}",
        f"'); ATTACH DATABASE '{marker}' AS pwn; --",
    ]


def name_payloads(base: str, marker: Path) -> list[str]:
    """Hostile variants of a real name (a Pokémon or a move)."""
    return [
        # path traversal
        f"../{base}",
        "../../etc/passwd",
        f"..\\..\\{base}",
        f"/{base}",
        f"{base}/../../x",
        "file:///etc/passwd",
        # control and invisible characters (each would otherwise fold into the real name)
        f"{base[:3]}\x00{base[3:]}",
        f"{base[:3]}\n{base[3:]}",
        f"{base[:3]}\r{base[3:]}",
        f"\x1b[31m{base}\x1b[0m",
        f"{base[:3]}\x7f{base[3:]}",
        f"{base[:3]}\u202e{base[3:]}",
        f"{base[:3]}\u200b{base[3:]}",
        f"{base}\ufeff",
        # 10,000 characters
        "a" * 10_000,
        base * (10_000 // len(base) + 1),
        "é" * 10_000,
        "🐭" * 10_000,
        # Unicode look-alikes
        "\u0420" + base[1:],  # Cyrillic capital Er, looks like P
        base[:3] + "\u0430" + base[4:],  # Cyrillic a
        "\u03a1" + base[1:],  # Greek capital Rho
        "".join(chr(0xFEE0 + ord(ch)) if "!" <= ch <= "~" else ch for ch in base),  # fullwidth
        "\U0001d40f" + base[1:],  # mathematical bold capital P
        base[:1] + "\u0131" + base[2:],  # dotless i
        # code
        *code_payloads(marker),
    ]


MODEL_NAME_PAYLOADS = [
    "../x", "1; drop", "-1", "1e3", "", "x" * 10_000, "bwp\n", "bwp\x00", "a b", "a/b", "..",
    "battle_winner_predictor.lock", "Рroduction", "🐭", "models:/battle_winner_predictor/1",
]  # fmt: skip
VERSION_PAYLOADS = [
    "../x", "1; drop", "-1", "1e3", "", "9" * 10_000, 10**30, -1, 0, "0", "1.5", 1.5, "0x10",
    " ", "١", "1\n2", "nan", True, None, "1 OR 1=1", "v1", "+1",
]  # fmt: skip
HYPERPARAMETER_PAYLOADS = [
    {"n_estimators": 10**7}, {"max_depth": 10**4}, {"n_estimators": 0}, {"n_estimators": -5},
    {"n_estimators": "1e7"}, {"n_estimators": 10**400}, {"n_estimators": True},
    {"n_estimators": "5; drop"}, {"max_depth": 0}, {"learning_rate": 0}, {"learning_rate": 2},
    {"learning_rate": float("nan")}, {"learning_rate": "inf"}, {"learning_rate": 1e308},
    {"subsample": -1}, {"__class__": 1}, {"../x": 1}, {"n_estimators\n": 5},
]  # fmt: skip
BATTLE_COUNT_PAYLOADS = [10**10, 10**7 + 1, 0, -1, "1e3", 1e3, True]


class Tally:
    """Payloads tried per interface, and anything that was not refused properly."""

    def __init__(self) -> None:
        self.tried: dict[str, int] = {}
        self.failures: list[str] = []

    def refused(self, interface: str, payload, error: BaseException | str | None) -> None:
        """Record one attempt; `error` is what it raised (None when it was accepted)."""
        self.tried[interface] = self.tried.get(interface, 0) + 1
        shown = repr(payload)[:60]
        if error is None:
            self.failures.append(f"{interface}: {shown} was accepted")
            return
        message = error if isinstance(error, str) else str(error)
        if not message.strip():
            self.failures.append(f"{interface}: {shown}: empty error message")
        elif len(message) > MAX_MESSAGE_CHARS or "\n" in message.strip():
            self.failures.append(f"{interface}: {shown}: message not one short line: {message!r}")
        elif CONTROL.search(message):
            self.failures.append(f"{interface}: {shown}: message echoes control chars: {message!r}")
        elif "Traceback" in message:
            self.failures.append(f"{interface}: {shown}: traceback: {message!r}")

    def expect_error(self, interface: str, payload, call, errors=(Exception,)) -> None:
        """Call and record: it must raise one of `errors` with a clean message."""
        try:
            call()
        except errors as error:
            self.refused(interface, payload, error)
            return
        self.refused(interface, payload, None)

    def cli(self, interface: str, payload, reply: dict) -> None:
        """Record a CLI run in a worker: exit 2, one `error:` line or argparse usage, no stdout."""
        assert reply["ok"], reply
        value = reply["value"]
        stderr = value["stderr"].strip()
        last = stderr.splitlines()[-1] if stderr else ""
        if value["code"] != 2 or value["stdout"].strip():
            self.refused(interface, payload, None)
            self.failures[-1] += f" (exit {value['code']}, stdout {value['stdout'][:200]!r})"
        else:
            self.refused(interface, payload, last.removeprefix("error: "))

    @property
    def total(self) -> int:
        """Every payload x interface tried."""
        return sum(self.tried.values())


def tree_digest(root: Path) -> str:
    """One hash over every file's path and bytes under root (to show nothing changed)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def helper():
    """One warm worker process that runs each CLI's main(argv) for every payload."""
    with workers(1, prefix="cli") as (worker,):
        yield worker


def run_main(worker, module: str, argv: list[str], env: dict | None = None) -> dict:
    return worker.request({"op": "cli", "module": module, "argv": argv, "env": env or {}})


@pytest.mark.slow
def test_hostile_names_for_battles_and_predictions(tmp_path, local_model_dir, helper, counts):
    marker = tmp_path / "pwned"
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    models_before = tree_digest(local_model_dir)
    model = PredictionModel(Settings(use_registry=False, models_dir=local_model_dir))
    tally = Tally()
    predict_env = {"USE_MLFLOW_REGISTRY": "false", "PREDICTIONDEX_MODELS_DIR": str(local_model_dir)}
    for what, base in (("pokemon", "pikachu"), ("move", "thunderbolt")):
        for payload in name_payloads(base, marker):
            if what == "pokemon":
                pokemon, moves, flag = payload, None, "--a"
            else:
                pokemon, moves, flag = "pikachu", [payload], "--moves-a"
            tally.expect_error(
                f"battle.win_probability {what}",
                payload,
                lambda p=pokemon, m=moves: battle.win_probability(p, "onix", moves_a=m, n=10),
                PokedexError,
            )
            tally.expect_error(
                f"predict.predict_winner {what}",
                payload,
                lambda p=pokemon, m=moves: model.predict_winner(p, "onix", moves_a=m),
                PokedexError,
            )
            argv = ["--a", "pikachu", "--b", "onix", flag, payload]
            if flag == "--a":
                argv = ["--a", payload, "--b", "onix"]
            tally.cli(
                f"python -m core.battle {flag}",
                payload,
                run_main(helper, "core.battle", [*argv, "--n", "10"]),
            )
            tally.cli(
                f"python -m core.predict {flag}",
                payload,
                run_main(helper, "core.predict", argv, predict_env),
            )
    # Levels and simulation counts at extremes, through the same doors.
    for level in ("1e3", "-1", "0", "101", "9" * 10_000, "50; drop", "nan", "", "1e308"):
        tally.expect_error(
            "battle.win_probability level",
            level,
            lambda v=level: battle.win_probability("pikachu", "onix", level_a=v, n=10),
            PokedexError,
        )
        tally.cli(
            "python -m core.predict --level-a",
            level,
            run_main(helper, "core.predict", ["--a", "pikachu", "--b", "onix", "--level-a", level],
                     predict_env),
        )  # fmt: skip
    for n in ("0", "-1", "10000000000", "-5"):
        flag = "--seed" if n == "-5" else "--n"
        tally.cli(
            f"python -m core.battle {flag}",
            n,
            run_main(helper, "core.battle", ["--a", "pikachu", "--b", "onix", flag, n]),
        )
    # A sample as real processes, run from an empty directory that must stay empty.
    real = 0
    for payload in ("../pikachu", "\x1b[31mpikachu", "Рikachu", f"$(touch {marker})"):
        for module, extra, env in (
            ("core.battle", ["--n", "10"], {}),
            ("core.predict", [], predict_env),
        ):
            done = run_cli(module, ["--a", payload, "--b", "onix", *extra], env=env, cwd=sandbox)
            real += 1
            assert done.returncode == 2 and not done.stdout, (module, payload, done.stdout)
            assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1
            tally.refused(f"process {module}", payload, done.stderr.strip())

    assert not tally.failures, "\n".join(tally.failures)
    assert not marker.exists() and not list(PROJECT_ROOT.glob("pwned*"))
    assert not any(sandbox.iterdir())
    assert tree_digest(local_model_dir) == models_before
    counts(payloads_tried=tally.total, refused=tally.total, accepted=0, payloads_that_ran=0,
           real_processes=real, interfaces=len(tally.tried))  # fmt: skip


def registry_snapshot(tracker: MLflowTracker) -> tuple:
    """Everything a hostile registry call could change."""
    models = sorted(
        (m.name, sorted(m.aliases.items()), sorted(m.tags.items()), m.description or "")
        for m in tracker.client.search_registered_models()
    )
    versions = sorted(
        (v.name, v.version, sorted(v.tags.items()), v.description or "")
        for v in tracker.client.search_model_versions()
    )
    runs = len(tracker.client.search_runs([tracker.experiment_id]))
    return models, versions, runs


@pytest.mark.slow
def test_hostile_model_names_and_versions(tmp_path, store_template, helper, counts):
    marker = tmp_path / "pwned"
    settings = sqlite_settings(tmp_path, store_template, promotion_threshold=0.0)
    for seed in (1, 2):
        train_model(TrainConfig(seed=seed, **TINY_TRAINING), settings)
    tracker = MLflowTracker(settings=settings)
    name = settings.model_name
    before = registry_snapshot(tracker)
    env = settings.to_env()
    tally = Tally()
    names = [*MODEL_NAME_PAYLOADS, *code_payloads(marker)]
    for payload in names:
        valid_format = isinstance(payload, str) and MODEL_NAME_PATTERN.fullmatch(payload)
        calls = {
            "promote_to_production": lambda p=payload: tracker.promote_to_production(p, 1),
            "rollback": lambda p=payload: tracker.rollback(p),
            "set_description": lambda p=payload: tracker.set_description(p, 1, "x"),
            "load_model_from_registry": lambda p=payload: load_model_from_registry(
                p, settings=settings
            ),
        }
        if not valid_format:  # a well-formed unknown name ("1e3") reads as empty, not an error
            calls["compare_models"] = lambda p=payload: tracker.compare_models(p)
            calls["audit_log"] = lambda p=payload: tracker.audit_log(p)
            calls["doctor"] = lambda p=payload: tracker.doctor(p)
        for label, call in calls.items():
            tally.expect_error(f"registry.{label} name", payload, call, RegistryError)
        for argv in [["promote", "1"], ["rollback"], *([] if valid_format else [["list"]])]:
            tally.cli(
                f"python -m core.registry --model {argv[0]}",
                payload,
                run_main(helper, "core.registry", ["--model", payload, *argv], env),
            )
    for payload in [*VERSION_PAYLOADS, *code_payloads(marker)]:
        calls = {
            "promote_to_production": lambda v=payload: tracker.promote_to_production(name, v),
            "promote expected_current": lambda v=payload: tracker.promote_to_production(
                name, 1, expected_current=v
            ),
            "set_description": lambda v=payload: tracker.set_description(name, v, "x"),
            "load_model_from_registry": lambda v=payload: load_model_from_registry(
                name, version=v, settings=settings
            ),
        }
        if payload is None:
            calls.pop("load_model_from_registry")  # version=None: serve the stage, as documented
        if payload is None or (not isinstance(payload, bool) and payload in (0, "0")):
            # Valid there: None = do not check, 0 = "I expect no holder" (an audited conflict).
            calls.pop("promote expected_current")
        for label, call in calls.items():
            tally.expect_error(f"registry.{label} version", payload, call, RegistryError)
        if isinstance(payload, str):
            tally.cli(
                "python -m core.registry promote VERSION",
                payload,
                run_main(helper, "core.registry", ["promote", payload], env),
            )
    real = 0
    for argv in (["promote", "../x"], ["promote", "1; drop"], ["--model", "../x", "list"]):
        done = run_cli("core.registry", argv, env=env, cwd=tmp_path)
        real += 1
        assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
        tally.refused("process core.registry", argv, done.stderr.strip())

    assert not tally.failures, "\n".join(tally.failures)
    assert registry_snapshot(tracker) == before
    assert not marker.exists() and not list(PROJECT_ROOT.glob("pwned*"))
    counts(payloads_tried=tally.total, refused=tally.total, accepted=0, payloads_that_ran=0,
           real_processes=real, store_changed=False)  # fmt: skip


@pytest.mark.slow
def test_hostile_training_input_is_rejected_before_any_run(tmp_path, helper, counts):
    settings = sqlite_settings(tmp_path)
    database = settings.sqlite_path
    tally = Tally()
    for params in HYPERPARAMETER_PAYLOADS:
        tally.expect_error("train.validate_params", params,
                           lambda p=params: validate_params("xgboost", p), ValueError)  # fmt: skip
        tally.expect_error(
            "train.train_model params",
            params,
            lambda p=params: train_model(TrainConfig(params=p, n_battles=1500), settings),
            ValueError,
        )
    for count in BATTLE_COUNT_PAYLOADS:
        tally.expect_error(
            "train.train_model n_battles",
            count,
            lambda n=count: train_model(TrainConfig(n_battles=n), settings),
            ValueError,
        )
    for extra in ({"seed": -1}, {"seed": 2**32}, {"level": 1000}, {"level": (1, 1000)},
                  {"scenario": "../x"}, {"roster": "../x"}, {"version_label": "x" * 10_000}):  # fmt: skip
        tally.expect_error(
            "train.train_model config",
            extra,
            lambda e=extra: train_model(TrainConfig(n_battles=1500, **e), settings),
            ValueError,
        )
    env = settings.to_env()
    cli_cases = [
        ["--n-battles", "10000000000"],
        ["--n-battles", "-1"],
        ["--param", "n_estimators=10000000"],
        ["--param", "max_depth=10000"],
        ["--param", "learning_rate=nan"],
        ["--param", "__class__=1"],
        ["--param", "noequals"],
        ["--seed", "-1"],
        ["--level", "1-1000"],
        ["--roster", "../x"],
    ]
    for argv in cli_cases:
        tally.cli("python -m core.train", argv, run_main(helper, "core.train", argv, env))
    real = 0
    for argv in cli_cases[:4]:
        done = run_cli("core.train", argv, env=env, cwd=tmp_path)
        real += 1
        assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
        tally.refused("process core.train", argv, done.stderr.strip())

    assert not tally.failures, "\n".join(tally.failures)
    # Rejected before any run: the tracking store was not even opened.
    assert database is not None and not database.exists()
    counts(payloads_tried=tally.total, refused=tally.total, accepted=0, payloads_that_ran=0,
           real_processes=real, runs_created=0)  # fmt: skip


@pytest.mark.parametrize(
    ("check", "payload"),
    [
        ("pokemon", "../pikachu"),
        ("pokemon", "pika\x00chu"),
        ("pokemon", "pika\u202echu"),
        ("pokemon", "\uff30\uff49\uff4b\uff41\uff43\uff48\uff55"),  # fullwidth "Pikachu"
        ("pokemon", "\u0420ikachu"),  # Cyrillic Er
        ("move", "thunder\u200bbolt"),
        ("model_name", "battle_winner_predictor\n"),
        ("version", 10**30),
        ("version", "1e3"),
        ("seed", -1),
        ("level", 1000),
        ("roster", "../x"),
    ],
)
def test_validation_refuses_hostile_values(check, payload):
    """The validators themselves, without processes or stores (fast, for a `-m "not slow"` loop)."""
    from core.pokedex import load_pokedex
    from core.registry import parse_version, validate_model_name

    dex = load_pokedex()
    calls = {
        "pokemon": lambda: dex.resolve_pokemon(payload),
        "move": lambda: dex.resolve_move(payload),
        "model_name": lambda: validate_model_name(payload),
        "version": lambda: parse_version(payload),
        "seed": lambda: TrainConfig(seed=payload).checked(),
        "level": lambda: TrainConfig(level=payload).checked(),
        "roster": lambda: TrainConfig(roster=payload).checked(),
    }
    with pytest.raises((PokedexError, RegistryError, ValueError)) as refused:
        calls[check]()
    message = str(refused.value)
    assert message and "\n" not in message and not CONTROL.search(message)


# --- the Predict page's batch upload (core.predict.batch_csv, which the page and CLI call) -------

HOSTILE_FILES = {
    "NUL bytes": b"pokemon_a,pokemon_b\nPika\x00chu,Onix\n",
    "binary": bytes(range(256)) * 8,
    "10,001 rows": b"pokemon_a,pokemon_b\n" + b"Pikachu,Onix\n" * 10_001,
    "wrong encoding (latin-1)": "pokemon_a,pokemon_b\nFlabébé,Onix\n".encode("latin-1"),
    "wrong encoding (UTF-16)": "pokemon_a,pokemon_b\nPikachu,Onix\n".encode("utf-16"),
    "oversized": b"pokemon_a,pokemon_b\n" + b"Pikachu,Onix\n" * 200_000,
    "huge field": b'pokemon_a,pokemon_b\n"' + b"A" * 1_000_000 + b'",Onix\n',
    "empty": b"",
    "no header": b"Pikachu,Onix\n",
    "unbalanced quote": b'pokemon_a,pokemon_b\n"Pikachu,Onix\nMew,Onix\n',
}


@pytest.mark.parametrize("kind", list(HOSTILE_FILES))
def test_a_hostile_upload_is_one_clear_line(kind, counts):
    from core.predict.batch_csv import BatchFileError, read_batch_csv

    with pytest.raises(BatchFileError) as refused:
        read_batch_csv(HOSTILE_FILES[kind])
    message = refused.value.full_text()
    assert message and "\n" not in message and not CONTROL.search(message)
    assert len(message) <= MAX_MESSAGE_CHARS and refused.value.hint
    counts(files_refused=1)


@pytest.mark.slow
def test_hostile_rows_are_refused_alone_and_the_download_runs_nothing(
    tmp_path, local_model_dir, counts
):
    """Formula, code and control payloads in every field: each row refused (or answered with the
    roster's own names), the valid row answered, no download cell a spreadsheet would run."""
    import csv
    import io

    from core.predict.batch_csv import FORMULA_STARTS, predict_csv, write_batch_csv

    marker = tmp_path / "pwned"
    formulas = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1",
                "=HYPERLINK(\"http://x\")", "A" * 5_000]  # fmt: skip
    payloads = [*formulas, *code_payloads(marker), "Pika\u202echu", "Pika\x07chu"]
    lines = ["pokemon_a,pokemon_b,level_a,level_b,moves_a,moves_b", "Pikachu,Onix,,,,"]
    quoted = ['"' + p.replace('"', '""') + '"' for p in payloads]
    for field in quoted:
        lines += [f"{field},Onix,,,,", f"Pikachu,{field},,,,", f"Pikachu,Onix,{field},,,",
                  f"Pikachu,Onix,,,{field},"]  # fmt: skip
    model = PredictionModel(Settings(use_registry=False, models_dir=local_model_dir))
    batch = predict_csv(model.get_model(), "\n".join(lines).encode("utf-8"))
    assert batch.answered["row"].tolist() == [1]
    assert len(batch.refused) == 4 * len(payloads)
    for reason in batch.refused["error"]:
        assert "\n" not in reason and not CONTROL.search(reason) and len(reason) <= 2000
    text = write_batch_csv(batch.table).decode("utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not marker.exists(), "a payload ran"
    counts(rows_tried=len(lines) - 1, rows_refused=len(batch.refused), formula_cells=0)
