"""Promotion race: 4 processes promote 4 different versions at the same moment, each stating the
version it saw in Production; a rollback races promotions the same way.

After every round exactly one action succeeded and Production holds its version, the previous
holder is Archived, the audit trail's last successful action installed what the alias points to,
and every loser got PromotionConflict "Production is now vX" (and an audited conflict) instead
of silently overwriting the winner.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from core.registry import LOCK_SUFFIX, MLflowTracker, Registry
from core.train import TrainConfig, train_model
from tests.reliability.harness import (
    TINY_TRAINING,
    Worker,
    release_together,
    sqlite_settings,
    workers,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PROMOTERS = 4
VERSIONS = 5  # the current holder + 4 other versions, one per promoter
SQLITE_PROMOTION_ROUNDS = 30
SQLITE_ROLLBACK_ROUNDS = 15
SERVER_PROMOTION_ROUNDS = 10
SERVER_ROLLBACK_ROUNDS = 5


@pytest.fixture(scope="module")
def promoters() -> Iterator[list[Worker]]:
    """Four warm worker processes, reused by the tests of this module."""
    with workers(PROMOTERS, prefix="promoter") as pool:
        yield pool


def prepare_store(settings) -> MLflowTracker:
    """VERSIONS real tiny trainings (none auto-promoted), then v1 and v2 promoted in turn."""
    for seed in range(VERSIONS):
        result = train_model(TrainConfig(seed=seed, threshold=1.0, **TINY_TRAINING), settings)
        assert result.version == seed + 1 and not result.promoted
    tracker = MLflowTracker(settings=settings)
    tracker.promote_to_production(settings.model_name, 1, reason="setup")
    tracker.promote_to_production(settings.model_name, 2, reason="setup")  # history to roll back
    return tracker


def previous_holder(tracker: MLflowTracker, name: str, current: int) -> int:
    """What a rollback from `current` goes back to: the latest earlier Production holder.

    Rollback walks back through the history of holders (never toggling), so this is the
    registry's own history read before the round, not a rule of the test's own.
    """
    assert tracker.current_version(name) == current
    holders = Registry(tracker.settings).earlier_holders(name)
    return next(row.version for row in holders if not row.rolled_back_over)


def check_round(tracker, name, replies, current, expected_winners, audit_before) -> int:
    """The invariants after one round; returns the winning version."""
    ok = [reply for reply in replies if reply["ok"]]
    conflicts = [reply for reply in replies if reply.get("kind") == "PromotionConflict"]
    other = [reply for reply in replies if not reply["ok"] and reply not in conflicts]
    assert not other, other
    assert len(ok) == 1, f"{len(ok)} actions succeeded in one round: {replies}"
    winner = int(ok[0]["value"]["version"])
    assert ok[0]["value"]["changed"] and ok[0]["value"]["previous_version"] == current
    assert winner in expected_winners
    assert tracker.current_version(name) == winner
    for reply in conflicts:
        assert f"Production is now v{winner}" in reply["error"], reply["error"]
        assert "nothing was changed" in reply["error"]

    frame = tracker.compare_models(name).set_index("version")
    assert frame["stage"].tolist().count("Production") == 1
    assert frame.loc[winner, "stage"] == "Production"
    assert frame.loc[current, "stage"] == "Archived"
    audit = tracker.audit_log(name)
    new = audit.iloc[audit_before:]
    assert len(new) == len(replies), new
    assert (new["status"] == "ok").sum() == 1 and (new["status"] == "conflict").sum() == len(
        conflicts
    )
    last_ok = audit[audit["status"] == "ok"].iloc[-1]
    assert (last_ok["from_version"], last_ok["to_version"]) == (current, winner)
    assert (new.loc[new["status"] == "conflict", "from_version"] == winner).all()
    assert not tracker.client.search_registered_models(f"name='{name}{LOCK_SUFFIX}'")
    return winner


def race(pool, settings, promotion_rounds: int, rollback_rounds: int) -> dict:
    """Promotion rounds, then rollback-against-promotions rounds; counts of what happened."""
    tracker = prepare_store(settings)
    name, store = settings.model_name, settings.to_env()
    rng = random.Random(7)
    outcome = {"rounds": 0, "ok": 0, "conflicts": 0, "rollback_wins": 0, "promotion_wins": 0}
    for index in range(promotion_rounds + rollback_rounds):
        current = tracker.current_version(name)
        audit_before = len(tracker.audit_log(name))
        others = [v for v in range(1, VERSIONS + 1) if v != current]
        rng.shuffle(others)
        commands = [
            {
                "op": "promote",
                "settings": store,
                "model_name": name,
                "version": version,
                "expected": current,
                "user": f"promoter{worker}",
            }
            for worker, version in enumerate(others)
        ]
        expected_winners = set(others)
        is_rollback_round = index >= promotion_rounds
        if is_rollback_round:
            target = previous_holder(tracker, name, current)
            promoted = [v for v in others if v != target]
            commands = [
                {"op": "rollback", "settings": store, "model_name": name, "expected": current},
                *[
                    {**command, "version": version}
                    for command, version in zip(commands[1:], promoted, strict=False)
                ],
            ]
            expected_winners = {target, *promoted}
        replies = release_together(pool[: len(commands)], commands)
        winner = check_round(tracker, name, replies, current, expected_winners, audit_before)
        outcome["rounds"] += 1
        outcome["ok"] += sum(reply["ok"] for reply in replies)
        outcome["conflicts"] += sum(reply.get("kind") == "PromotionConflict" for reply in replies)
        if is_rollback_round:
            won_by_rollback = replies[0]["ok"]
            assert won_by_rollback == (winner == target)
            outcome["rollback_wins" if won_by_rollback else "promotion_wins"] += 1
    assert tracker.doctor(name) == []
    outcome["silent_overwrites"] = outcome["ok"] - outcome["rounds"]  # asserted 0 round by round
    return outcome


def test_promotion_race_on_sqlite(promoters, tmp_path, store_template, counts):
    settings = sqlite_settings(tmp_path, store_template)
    outcome = race(promoters, settings, SQLITE_PROMOTION_ROUNDS, SQLITE_ROLLBACK_ROUNDS)
    assert outcome["silent_overwrites"] == 0
    counts(promoters=PROMOTERS, promotion_rounds=SQLITE_PROMOTION_ROUNDS,
           rollback_rounds=SQLITE_ROLLBACK_ROUNDS, **outcome)  # fmt: skip


@pytest.mark.server
def test_promotion_race_on_a_real_server(promoters, mlflow_server, tmp_path, counts):
    settings = sqlite_settings(tmp_path, tracking_uri=mlflow_server.url)
    outcome = race(promoters, settings, SERVER_PROMOTION_ROUNDS, SERVER_ROLLBACK_ROUNDS)
    assert outcome["silent_overwrites"] == 0
    counts(promoters=PROMOTERS, promotion_rounds=SERVER_PROMOTION_ROUNDS,
           rollback_rounds=SERVER_ROLLBACK_ROUNDS, **outcome)  # fmt: skip
