"""Drain in the analytic race: what the draining side regains between the other side's blows.

The race (`core.features.analytic`) counts A's KO of B at a time when B has not KO'd A yet
(P(A wins) = Σ_t P(T_A = t)·P(T_B > t) + …), so every use B landed before A's KO left A
standing: each heals ⌈damage × drain⌉ of a use that does not KO (the simulator's rounding),
never more than B has lost. A use before A's first landed blow heals nothing (B is at full HP,
whoever moves first), so B's HP to take at A's h-th landed use is hp + the heals in between.
Between A's first two landed uses (on consecutive turns, the race's most likely KO) B acts once
after A's first blow if A moved first that turn and once before A's second if B moved first
then: N ∈ {0, 1, 2} landed heals, each drawn from the law of a heal (its rolls and crits), and
P(KO after two uses) is solved exactly on the sums of A's rolls and crits. Beyond two uses,
each gap of G ~ geometric(A's landing chance) turns adds N ~ binomial(G, B's landing chance)
heals, whose mean and variance go into the normal sums. On a coin-flip turn order, who moves
first on the KO turn decides both the heal before the blow and the tie: the race is summed per
order (`race_by_order`). When B's best move recoils and A's drains (best moves both: rows the
recoil lattice leaves to the race), B's recoil goes the same way, use by use, as a negative heal
(it is paid from the first use: the uses before A's first blow come off B's HP at once).

What this leaves out: a gap longer than one turn in the two-use term (A missing in between),
that the KO times are otherwise independent, and that B's uses that did not KO A are a little
weaker than B's uses overall beyond the one use's condition (worst left over all 4,360 letsgo
drain pairs: 8.7 points, a three-use race, Wartortle vs Parasect). Folding the heal
in as a rate instead (the previous race) counted B's first heal, which restores nothing, and
dropped the heals that count when B's blow may KO or not: 72 points off for Golem-Alola vs
Eevee-Starter (Bouncy Bubble), 45 for Omastar vs Vileplume (Mega Drain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.battle import SideMoves
from core.pokedex import Pokedex


@dataclass
class HealLaw:
    """Per row, the HP one landed use heals given it does not KO the other side: `mean` (n,);
    for the `rows` (m,) whose best move drains, `values` and `probs` (m, 32) of that move's heal
    (16 rolls without, 16 with a crit)."""

    mean: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    probs: np.ndarray


@dataclass
class Heals:
    """What the defender regains by drain, per row: `first` (n,) the mean total between my first
    two landed uses (`values` (m, 65) and `probs` (m, 65, 2) its law given I move first or
    second on the turn of my second, for the `rows` (m,) whose best move drains); `mean` and
    `var` (n,) per gap between two landed uses of mine beyond (HP, HP²); `order` (n,) P(I move
    first)."""

    rows: np.ndarray
    values: np.ndarray
    probs: np.ndarray
    first: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    order: np.ndarray


def heal_law(dex: Pokedex, side: SideMoves, moves, share, best, rolls, other_hp, recoil):
    """The heal of a landed use that does not KO the other side (max HP `other_hp` (n,)):
    `share` (n, 4) is P(slot | a use landed), `best` (n,) the best slot, `rolls` the (plain,
    crit, cell) damage tables of `core.features.analytic` (each slot's 16 rolls, ± crit). On
    the rows `recoil` (n,) bool, the best move's recoil counts as a negative heal."""
    n_rows = len(moves)
    index = np.where(moves >= 0, moves, 0)
    num, den = dex.move_drain[index, 0], dex.move_drain[index, 1]
    on_best = np.arange(moves.shape[1])[None, :] == best[:, None]
    costs = on_best & recoil[:, None] & (dex.move_recoil[index, 0] > 0)
    rows, slot = np.nonzero((share > 0) & ((num > 0) | costs))
    mean, ko = np.zeros(n_rows), np.zeros(n_rows)
    if rows.size == 0:
        return HealLaw(mean, rows, np.zeros((0, 32)), np.zeros((0, 32)))
    plain, crit, cell = rolls
    c = side.crit_chance[rows, slot][:, None]
    damage = np.concatenate([plain[cell[rows, slot]], crit[cell[rows, slot]]], 1)
    stays = damage < other_hp[rows, None]
    weight = np.where(np.arange(32) < 16, (1 - c) / 16, c / 16) * stays
    heal = np.ceil(damage * num[rows, slot][:, None] / den[rows, slot][:, None])
    lose, per = (
        dex.move_recoil[index[rows, slot], 0][:, None],
        dex.move_recoil[index[rows, slot], 1],
    )
    lost = np.maximum(np.floor((2 * damage * lose + per[:, None]) / (2 * per[:, None])), 1.0)
    heal -= np.where(costs[rows, slot][:, None] & (damage > 0), lost, 0.0)
    np.add.at(mean, rows, share[rows, slot] * (weight * heal).sum(1))
    np.add.at(ko, rows, share[rows, slot] * (1 - weight.sum(1)))
    on = slot == best[rows]
    probs = weight[on] / np.maximum(weight[on].sum(1, keepdims=True), 1e-12)
    return HealLaw(mean / np.maximum(1 - ko, 1e-9), rows[on], heal[on], probs)


def heals_between(my_land, my_mean, my_first, other_land, law: HealLaw) -> Heals:
    """The defender's heals between my landed uses (all (n,): my landing chance per turn, mean
    damage of a landed use and P(I move first); its landing chance and heal law); together they
    restore at most (95 % of) what my use took."""
    a, land = np.maximum(my_land, 1e-9), other_land
    cap = 0.95 * my_mean
    after, before = my_first * land, (1 - my_first) * land  # its action after mine, before mine
    first = np.minimum(law.mean * (after + before), cap)
    r, after, land_r = law.rows, after[law.rows, None], land[law.rows, None]
    one = np.minimum(law.values, cap[r, None])
    two = np.minimum(law.values + law.mean[r, None], cap[r, None])
    values = np.concatenate([np.zeros((r.size, 1)), one, two], 1)
    probs = np.zeros((r.size, 65, 2))
    for k, before in enumerate((0.0, land_r)):  # its action before my second, if it moves first
        gap = [(1 - after) * (1 - before), after + before - 2 * after * before, after * before]
        probs[..., k] = np.concatenate([gap[0], gap[1] * law.probs, gap[2] * law.probs], 1)
    count_var = land * (1 - land) / a + land**2 * (1 - a) / a**2
    mean = np.minimum(law.mean * land / a, cap)
    return Heals(r, values, probs, first, mean, law.mean**2 * count_var, my_first)


def two_use_ko(plain, crit, c, hp, heals: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(k, P) P(KO within two landed single-hit uses): the first takes `hp` (k,), or both take
    hp plus the heal in between (`heals`: values (k, J) and P laws of them, probs (k, J, P)),
    on the exact sums of the 16 rolls with and without a crit (`plain`, `crit` (k, 16), crit
    chance `c` (k,))."""
    k = len(hp)
    damage = np.concatenate([plain, crit], 1)
    weight = np.where(np.arange(32) < 16, (1 - c[:, None]) / 16, c[:, None] / 16)
    first_ko = ((damage >= hp[:, None]) * weight).sum(1)
    total = (damage[:, :, None] + damage[:, None, :]).reshape(k, -1)
    least = total.min(1, keepdims=True)  # sums from each row's least: short rows of counts
    total -= least
    both = weight[:, :, None] * weight[:, None, :] * (damage < hp[:, None])[:, :, None]
    size = int(total.max(initial=0)) + 2
    at = (np.arange(k)[:, None] * size + total.astype(np.int64)).ravel()
    law = np.bincount(at, both.reshape(k, -1).ravel(), k * size).reshape(k, size)
    tail = np.cumsum(law[:, ::-1], 1)[:, ::-1]  # P(first stays, sum ≥ least + x)
    need = np.clip(np.ceil(hp[:, None] + heals[0] - least), 0, size - 1).astype(np.int64)
    reach = np.take_along_axis(tail, need, 1)
    return first_ko[:, None] + np.einsum("kj,kjp->kp", reach, heals[1])


def by_order(cdf: np.ndarray, two: np.ndarray, two_by_order: np.ndarray, land: np.ndarray):
    """(given I move first, given I move second) (k, turns) P(KO within t turns) from `cdf`
    (k, turns), built with P(KO | two landed uses) `two` (k,): the KO by t moves by the change
    of that value (`two_by_order` (k, 2)) times P(exactly two landed uses by t) (landing chance
    `land` (k,))."""
    t = np.arange(1, cdf.shape[1] + 1)[None, :]
    a = land[:, None]
    exactly_two = t * (t - 1) / 2 * a**2 * (1 - a) ** np.maximum(t - 2, 0)
    exactly_two = np.where(t >= 2, exactly_two, 0.0)
    return tuple(cdf + (two_by_order[:, k] - two)[:, None] * exactly_two for k in (0, 1))


def race_by_order(sides: tuple, rows, cdfs: tuple, first: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(P(A wins), P(B wins)) (k,) of `rows` (k,) within the horizon when who moves first on a
    KO turn also decides the heals before it: `sides` are A's and B's race inputs (`_Side` of
    `core.features.analytic`: g12, g2, land), `cdfs` their (k, turns) P(KO within t turns),
    `first` (P(A first), P(B first)) (k,). A wins at t moving first if B has not KO'd it before
    t, moving second if B has not by t."""
    mine, theirs = (
        by_order(cdf, s.g12[rows, 1], s.g2[rows], s.land[rows])
        for s, cdf in zip(sides, cdfs, strict=True)
    )
    zero = np.zeros((len(first[0]), 1))
    d = [[np.diff(f, axis=1, prepend=zero) for f in side] for side in (mine, theirs)]
    mix = [first[0][:, None] * mine[0] + first[1][:, None] * mine[1],
           first[1][:, None] * theirs[0] + first[0][:, None] * theirs[1]]  # fmt: skip
    before = [np.concatenate([zero, f[:, :-1]], 1) for f in mix]
    win = (first[0][:, None] * d[0][0] * (1 - before[1])).sum(1)
    win += (first[1][:, None] * d[0][1] * (1 - before[1] - d[1][0])).sum(1)
    lose = (first[1][:, None] * d[1][0] * (1 - before[0])).sum(1)
    lose += (first[0][:, None] * d[1][1] * (1 - before[0] - d[0][0])).sum(1)
    return win, lose


def sure_hits(hp: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Landed uses of at least `low` each that surely take `hp` plus `step` per use after the
    first (h·low ≥ hp + (h − 1)·step); inf when the heals keep up with the least damage."""
    gain = low - step
    return np.where(gain > 0, np.ceil(np.maximum(hp - step, 0) / np.maximum(gain, 1e-9)), np.inf)


def recoil_rows(dex: Pokedex, batch, tables) -> tuple[np.ndarray, np.ndarray]:
    """(n,) bool each, A's and B's: both sides play their best move and the other side's
    drains, so the recoil lattice leaves the row to the race and this side's recoil is counted
    with the heals (use by use, between the other side's blows), not folded in as a rate."""
    rows = np.arange(len(batch))
    both = ~tables.random_a & ~tables.random_b
    drains = [
        dex.move_drain[np.maximum(moves[rows, best], 0), 0] > 0
        for moves, best in ((batch.moves_a, tables.best_a), (batch.moves_b, tables.best_b))
    ]
    return both & drains[1], both & drains[0]


def recoil_before(hp, max_hp, law: HealLaw, rows, my_land, my_first, other_land) -> np.ndarray:
    """(n,) the HP to take `hp` (its recoil folded in as a rate) but on `rows` (n,) bool: its
    `max_hp` less the recoil it pays before my first landed use (its uses then: one per miss of
    mine before it, and its move first on that turn), `law.mean` being its heal minus recoil
    per use (negative there); the recoil after that goes with the heals."""
    a = np.maximum(my_land, 1e-9)
    uses = other_land * ((1 - a) / a + (1 - my_first))
    return np.where(rows, np.maximum(max_hp + np.minimum(law.mean, 0.0) * uses, 1.0), hp)
