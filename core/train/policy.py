"""The promotion policy of training's publish step (PREDICTIONDEX_PROMOTION_POLICY).

- `threshold`: the seed's rule, word for word: promote when test_accuracy >= the threshold.
- `beats_production` (default): the threshold AND, against the current Production on the same
  fresh battles, an accuracy difference not significantly negative (bootstrap interval, exact
  McNemar) with a higher point estimate; with no Production, the threshold alone.
- `manual`: register only.
The decision and its evidence go into the version's tags and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.config import PromotionPolicy, Settings
from core.evaluate.compare import DEFAULT_COMPARE_BATTLES, DEFAULT_COMPARE_SEED

if TYPE_CHECKING:
    from core.evaluate.compare import Comparison

PromotionOutcome = Literal["promoted", "below_threshold", "not_better", "manual", "refused"]
PROMOTION_TAG_PREFIX = "promotion."


@dataclass(frozen=True)
class Promotion:
    """The promotion decision for a newly registered version.

    Fields: outcome ('promoted'; 'below_threshold': test_accuracy < threshold; 'not_better':
    not better than Production on the same fresh battles; 'manual': the policy only registers;
    'refused': the registry refused, e.g. a lost race or a busy lock), threshold (test accuracy
    needed), accuracy (the version's test_accuracy), detail (the registry's message when
    refused), policy, version (this version), against (the Production version compared, or
    None), evidence (the Comparison, or None when none was made).
    """

    outcome: PromotionOutcome
    threshold: float
    accuracy: float
    detail: str = ""
    policy: PromotionPolicy = "threshold"
    version: int | None = None
    against: int | None = None
    evidence: Comparison | None = None

    @property
    def promoted(self) -> bool:
        """True when the version now holds Production."""
        return self.outcome == "promoted"

    @property
    def evidence_text(self) -> str:
        """'v7 vs Production v5: accuracy −0.0012 [−0.0031, +0.0007] on 20,242 fresh battles,
        McNemar p = 0.21' ('' without evidence): what was measured, on how many battles."""
        if self.evidence is None:
            return ""
        return f"v{self.version} vs Production v{self.against}: {self.evidence.evidence_text()}"

    @property
    def message(self) -> str:
        """One sentence: the seed guide's words for the threshold rule, the evidence otherwise."""
        if self.outcome == "promoted":
            if self.evidence is None:  # the threshold rule, or nobody held Production
                return "Model promoted to Production"
            if self.evidence.verdict == "better":
                return f"Model promoted to Production: significantly better than v{self.against}"
            return (f"Model promoted to Production: a higher estimate than v{self.against}, "
                    "not a significant difference")  # fmt: skip
        if self.outcome == "below_threshold":
            return f"Model registered but not promoted (accuracy < {self.threshold:g})"
        if self.outcome == "not_better":
            return (f"not promoted: v{self.version} is not better than Production v{self.against}: "
                    f"{self.evidence.evidence_text()}")  # fmt: skip
        if self.outcome == "manual":
            return "Model registered but not promoted (promotion policy: manual)"
        return f"Model registered but not promoted: {self.detail}"

    def tags(self) -> dict[str, str]:
        """The version tags that keep this decision and its evidence."""
        out = {"policy": self.policy, "decision": self.outcome, "accuracy": f"{self.accuracy:.6f}",
               "threshold": f"{self.threshold:.4f}", "message": self.message,
               "against": "none" if self.against is None else str(self.against)}  # fmt: skip
        if self.evidence is not None:
            e = self.evidence
            out.update(metric="accuracy", difference=repr(e.difference.estimate),
                       ci_low=repr(e.difference.low),
                       ci_high=repr(e.difference.high), p_value=repr(e.p_value),
                       verdict=e.verdict, battles=str(e.battles))  # fmt: skip
        return {PROMOTION_TAG_PREFIX + key: value for key, value in out.items()}


def challenge_production(
    tracker, model_dir: Path, manifest_sha: str, n_battles: int, seed: int
) -> tuple[int | None, Comparison | None]:
    """(Production version, Comparison of the new model against it), or (None, None)."""
    from core import artifacts
    from core.evaluate.compare import compare_models, fresh_battles
    from core.evaluate.stored import load_bundle, resolve, training_split
    from core.registry import NoModelError

    try:
        champion = resolve(tracker, "production")
    except NoModelError:
        return None, None
    challenger = artifacts.load_model_dir(model_dir, expected_manifest_sha256=manifest_sha)
    split = training_split(tracker, champion)
    own = (int(challenger.metadata["dataset"]["seed"]),
           float(challenger.metadata["dataset"]["test_fraction"]))  # fmt: skip
    roster = str(challenger.metadata.get("roster") or "letsgo")
    fresh = fresh_battles(n_battles, seed, roster, tuple(s for s in (own, split) if s))
    return champion.version, compare_models(challenger, load_bundle(tracker, champion), fresh)


def _promote(tracker, settings: Settings, decision: Promotion, reason: str, expected) -> Promotion:
    """Move Production to the version; a lost race or a busy lock is a refused decision."""
    from core.registry import RegistryError

    try:
        # Registry.promote moves the alias only: publish exports this run's own model folder
        # (and only with export_local), where promote_to_production would download it again.
        tracker.promote(
            settings.model_name, decision.version, reason=reason, user="training",
            expected_current=expected,
        )  # fmt: skip
    except RegistryError as error:
        # The version is registered and complete; a lost race or a busy lock only means
        # someone else decides Production now. Promote it by hand if it should serve.
        return replace(decision, outcome="refused", detail=str(error))
    return decision


def decide_promotion(
    tracker, settings: Settings, version: int, accuracy: float, threshold: float, *,
    policy: PromotionPolicy = "threshold", model_dir: Path | None = None, manifest_sha: str = "",
    compare_battles: int = DEFAULT_COMPARE_BATTLES, compare_seed: int = DEFAULT_COMPARE_SEED,
) -> Promotion:  # fmt: skip
    """Apply the policy to a registered version; tag it and audit a decision that moved nothing."""
    from core.registry import ANY

    base = Promotion("promoted", threshold, accuracy, policy=policy, version=version)
    reason = f"auto-promotion: test_accuracy {accuracy:.4f} >= {threshold:g}"
    if policy == "manual":
        decision = _record(tracker, settings, Promotion("manual", threshold, accuracy,
                                                        policy=policy, version=version))  # fmt: skip
    elif accuracy < threshold:
        decision = _record(tracker, settings, Promotion("below_threshold", threshold, accuracy,
                                                        policy=policy, version=version))  # fmt: skip
    elif policy == "threshold":
        decision = _promote(tracker, settings, base, reason, ANY)
    else:
        against, evidence = challenge_production(
            tracker, model_dir, manifest_sha, compare_battles, compare_seed
        )
        decision = Promotion("promoted", threshold, accuracy, policy=policy, version=version,
                             against=against, evidence=evidence)  # fmt: skip
        if evidence is not None and (evidence.verdict == "worse"
                                     or evidence.difference.estimate <= 0):  # fmt: skip
            decision = _record(tracker, settings, Promotion(
                "not_better", threshold, accuracy, policy=policy, version=version,
                against=against, evidence=evidence))  # fmt: skip
        else:
            why = f"{reason}; beats_production: {decision.evidence_text or 'no Production yet'}"
            decision = _promote(tracker, settings, decision, why, against)
    tracker.set_version_tags(settings.model_name, version, decision.tags())
    return decision


def _record(tracker, settings: Settings, decision: Promotion) -> Promotion:
    """Audit a decision that leaves Production where it is (with its numbers)."""
    reason = decision.message
    if decision.evidence is None:
        reason = f"{reason}; test_accuracy {decision.accuracy:.4f}, policy {decision.policy}"
    from core.registry import RegistryError

    try:
        tracker.record_decision(
            settings.model_name, decision.version, reason=reason, user="training"
        )
    except RegistryError as error:
        # Production did not move; the audit could not be written (e.g. a busy lock): say so.
        return replace(decision, outcome="refused", detail=str(error))
    return decision
