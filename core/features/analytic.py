"""The analytic win probability of a configuration: the HP race solved turn by turn.

For one side: P(KO within t turns) = Σ_h P(≥ h landed uses in t turns) · (G(h) − G(h−1)), where
G(h) = P(damage of h landed uses ≥ the defender's HP). Misses are exact (a binomial built turn by
turn), crits are exact for one and two uses (per-move crit chance, always-crit included) and
bucketed (0, 1, 2, 3+ crits) beyond, the sum of rolls is exact for one and two single-hit uses (the
16 × 16 roll grid) and normal (continuity-corrected) beyond. A multi-hit use is k hits (k fixed or
2–5 at 35/35/15/15 %), a roll and crit per hit; fixed and level damage have no variance; a
half-HP move (Super Fang) needs ⌈log2 HP⌉ + 1 landed uses. Recoil is folded into the race (what
the defender loses per turn scales the HP to take), drain into the HP to take at each landed use
(`core.features.drain`: heals between the blows); where both sides play their best move and one
recoils or hits several times, the race is solved again on the lattice of landed uses
(`core.features.self_change`: recoil in turn order, exact sums). The random policy is a per-turn
mixture (normal per use); who moves first is averaged over the priorities. Then P(A wins) =
Σ_t P(T_A = t)·[P(T_B > t) + P(T_B = t)·π], π = P(A first); undecided at the horizon: tie-break

Everything is vectorised in float32 over configurations; the horizon (hits, turns) is chosen per
row from three tiers, so the common short races cost little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from core.battle import ROLL_MAX, ROLL_MIN, BattleArrays, BattleTables, SideMoves, roll_damage
from core.battle.engine import MAX_TURNS
from core.features import drain
from core.features.self_change import Pending, pending_rows, solve_pending
from core.pokedex import HITS_2_TO_5, Pokedex

TIERS: tuple[tuple[int, int], ...] = ((16, 24), (48, 64), (MAX_TURNS, MAX_TURNS))  # (hits, turns)
KO_TURNS = 3  # P(KO within 1, 2, 3 turns) are returned as features
SUB_CHUNK = 1 << 13  # rows computed together (bounds the temporaries: ~30 MB)
_EPS = np.float32(0.01)  # variance floor: integer sums, continuity-corrected
_ROLLS32 = np.arange(ROLL_MIN, ROLL_MAX + 1, dtype=np.float32)
_K_PMF = np.zeros(6)
for _k, _share in HITS_2_TO_5:
    _K_PMF[_k] = _share


@dataclass
class Race:
    """Per configuration (all (n,)): A's and B's analytic win probabilities (they sum to 1 up to
    rounding) and each side's P(KO of the other within 1..KO_TURNS turns), (n, KO_TURNS)."""

    a_wins: np.ndarray
    b_wins: np.ndarray
    a_ko: np.ndarray
    b_ko: np.ndarray


@dataclass
class _Side:
    """One side attacking: per-turn landing probability, the landed use and the race inputs."""

    land: np.ndarray  # (n,) P(a damaging use lands this turn)
    hp: np.ndarray  # (n,) HP to take (recoil folded in) before my first landed use
    step: np.ndarray  # (n,) HP the defender regains (drain) per my landed use after the first
    step_var: np.ndarray  # (n,) its variance (from the count of its uses in between)
    mean: np.ndarray  # (n,) mean damage of a landed use
    var: np.ndarray  # (n,) its variance
    low: np.ndarray  # (n,) least damage of a landed use (> 0), for the horizon
    expected: np.ndarray  # (n,) expected damage per turn (for the tie-break)
    g12: np.ndarray  # (n, 2) P(KO | 1 and 2 landed uses), exact where known
    g2: np.ndarray  # (n, 2) P(KO | 2 landed uses) given I move first, second on the second's turn
    bucket: np.ndarray  # (n, 4) moments per hit: m1, v1 (no crit), m2, v2 (crit)
    crit: np.ndarray  # (n,) crit chance per hit; -1 = no crit structure (mixtures, multi-hit)
    half_uses: np.ndarray  # (n,) uses a half-HP move needs, 0 = not such a move


def _rolls(side: SideMoves, rows: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, 16) damage of one hit at each roll, without and with a crit (fixed: the amount).

    float32 is exact here: damages are integers far below 2**24 and a floor never lands within
    float32's error of an integer."""
    base = side.base_damage[rows, slot].astype(np.float32)[:, None]
    stab = side.stab[rows, slot][:, None]
    eff = side.effectiveness[rows, slot].astype(np.float32)[:, None]
    plain = roll_damage(base, stab, eff, False, _ROLLS32[None])
    crit = roll_damage(np.floor(base * np.float32(1.5)), stab, eff, False, _ROLLS32[None])
    fixed = side.fixed[rows, slot].astype(np.float32)[:, None]
    return np.where(fixed >= 0, fixed, plain), np.where(fixed >= 0, fixed, crit)


def _slot_moments(dex: Pokedex, side: SideMoves, moves: np.ndarray, used: np.ndarray):
    """Per slot (n, 4), for the slots `used` (else 0): mean and variance of a landed use, and
    its least damage; plus the (cells, 16) rolls of those slots and each slot's cell (-1)."""
    rows, slot = np.nonzero(used)
    plain, crit = _rolls(side, rows, slot)
    c = (side.crit_chance[rows, slot] * (side.fixed[rows, slot] < 0))[:, None]
    mean_hit = ((1 - c) * plain.mean(1, keepdims=True) + c * crit.mean(1, keepdims=True))[:, 0]
    square = (1 - c[:, 0]) * (plain**2).mean(1) + c[:, 0] * (crit**2).mean(1)
    var_hit = square - mean_hit**2
    index = np.where(moves >= 0, moves, 0)[rows, slot]
    lo, hi = dex.move_min_hits[index], dex.move_max_hits[index]
    k_mean = np.where(lo == hi, lo, 3.1)
    k_var = np.where(lo == hi, 0.0, 1.09)
    out = [np.zeros(moves.shape) for _ in range(3)]
    out[0][rows, slot] = k_mean * mean_hit
    out[1][rows, slot] = np.maximum(k_mean * var_hit + k_var * mean_hit**2, 0.0)
    out[2][rows, slot] = plain[:, 0] * lo
    cell = np.full(moves.shape, -1)
    cell[rows, slot] = np.arange(len(rows))
    return (*out, plain, crit, cell)


def _single_g12(plain, crit, c: np.ndarray, hp: np.ndarray, hp_two: np.ndarray) -> np.ndarray:
    """(k, 2) exact P(KO) after one and two landed single-hit uses (crits and rolls exact), the
    HP to take being `hp` for one use and `hp_two` for two."""
    one = (1 - c) * (plain >= hp[:, None]).mean(1) + c * (crit >= hp[:, None]).mean(1)
    hp = hp_two[:, None]

    def pair(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # rolls sorted: decide the sure rows
        low, high = x[:, 0] + y[:, 0], x[:, -1] + y[:, -1]
        out = (low >= hp[:, 0]).astype(np.float64)
        open_ = np.flatnonzero((low < hp[:, 0]) & (high >= hp[:, 0]))
        if open_.size:
            grid = x[open_, :, None] + y[open_, None, :]
            out[open_] = (grid >= hp[open_, :, None]).mean((1, 2))
        return out

    two = (1 - c) ** 2 * pair(plain, plain) + 2 * c * (1 - c) * pair(plain, crit)
    two += c**2 * pair(crit, crit)
    return np.column_stack([one, two])


def _multi_g12(plain, crit, c, lo, hi, hp, hp_two) -> np.ndarray:
    """(k, 2) P(KO) after one and two landed multi-hit uses (HP to take `hp`, then `hp_two`):
    hit counts exact, rolls normal."""
    k_pmf = np.where((lo == hi)[:, None], np.eye(6)[np.minimum(lo, 5)], _K_PMF[None])
    mean_hit = ((1 - c[:, None]) * plain + c[:, None] * crit).mean(1)
    var_hit = ((1 - c[:, None]) * plain**2 + c[:, None] * crit**2).mean(1) - mean_hit**2
    two_pmf = np.zeros((len(lo), 11))
    for k in range(6):
        two_pmf[:, k : k + 6] += k_pmf[:, k : k + 1] * k_pmf
    out = []
    for pmf, need in ((k_pmf, hp), (two_pmf, hp_two)):
        hits = np.arange(pmf.shape[1])[None]
        spread = np.sqrt(hits * var_hit[:, None] + _EPS)
        z = (hits * mean_hit[:, None] - need[:, None] + 0.5) / spread
        out.append((pmf * np.where(hits > 0, ndtr(z), 0.0)).sum(1))
    return np.column_stack(out)


@dataclass
class _Policy:
    """What a side's policy does per turn, before the race: weights, landing, a landed use."""

    weight: np.ndarray  # (n, 4) P(slot is chosen)
    share: np.ndarray  # (n, 4) P(slot | a use landed)
    land: np.ndarray  # (n,)
    mean_s: np.ndarray  # (n, 4) per slot: mean, variance and least damage of a landed use
    var_s: np.ndarray
    low_s: np.ndarray
    mean: np.ndarray  # (n,) mean damage of a landed use (the policy's mixture)
    heal: drain.HealLaw  # HP healed (drain) by a landed use that does not KO
    recoil: np.ndarray  # (n,) share of the damage dealt lost
    struggle: np.ndarray  # (n,) HP lost per turn whatever happens (Struggle)
    plain: np.ndarray  # (cells, 16) rolls of the slots in use, without and with a crit
    crit: np.ndarray
    cell: np.ndarray  # (n, 4) each slot's row in plain/crit, -1 when unused


def _policy(dex: Pokedex, side: SideMoves, moves, random_policy, best, hp) -> _Policy:
    """The policy's per-turn figures; `hp` is (own HP, the other side's HP, the rows where its
    best move's recoil goes with the heals: `core.features.drain`)."""
    n = len(best)
    valid = moves >= 0
    hurts = valid & (side.effectiveness > 0)
    weight = np.where(random_policy[:, None], valid / np.maximum(side.count, 1)[:, None], 0.0)
    weight[np.arange(n), best] += np.where(random_policy, 0.0, 1.0)
    acc = np.where(hurts, side.accuracy, 0.0)
    land = (weight * acc).sum(1)
    mean_s, var_s, low_s, plain, crit, cell = _slot_moments(dex, side, moves, weight > 0)
    share = weight * acc / np.maximum(land, 1e-12)[:, None]  # which move, given one landed
    index = np.where(valid, moves, 0)
    recoil = dex.move_recoil[index]
    struggle = dex.move_struggle_recoil[index] * np.maximum((2 * hp[0][:, None] + 4) // 8, 1)
    return _Policy(
        weight=weight, share=share, land=land, mean_s=mean_s, var_s=var_s, low_s=low_s,
        mean=(share * mean_s).sum(1),
        heal=drain.heal_law(dex, side, moves, share, best, (plain, crit, cell), hp[1], hp[2]),
        recoil=(share * recoil[..., 0] / recoil[..., 1]).sum(1),
        struggle=(weight * struggle).sum(1), plain=plain, crit=crit, cell=cell,
    )  # fmt: skip


def _hp_to_take(me: _Policy, other: _Policy, hp: np.ndarray, my_hp: np.ndarray, first):
    """The defender's HP with its own recoil folded in (expected values): a share of what it
    deals per landed use, over its actions before my KO, capped as the games cap it (it deals
    at most my HP in all, its last blow's recoil comes too late to matter). Its drain is not
    folded here but in the HP to take after each of my uses (`core.features.drain`)."""
    expected = me.land * me.mean
    dealt_rate = other.land * np.minimum(other.mean, my_hp)
    turns = np.ceil(hp / np.maximum(me.mean, 1e-9)) / np.maximum(me.land, 1e-9)
    uses = np.clip(turns - first, 0.0, MAX_TURNS)  # the defender's actions before my KO
    # What it deals before its last blow (that blow's recoil comes too late to matter).
    blows = np.ceil(my_hp / np.maximum(other.mean, 1e-9)) - 1
    before_last = np.minimum(np.minimum(other.mean, my_hp) * np.maximum(blows, 0), my_hp)
    recoil = np.minimum(other.recoil * dealt_rate * uses, other.recoil * before_last)
    cost = recoil + other.struggle * uses
    return np.where(expected > 0, np.maximum(hp - cost, 1.0), hp)


def _g12(dex, side: SideMoves, moves, random_policy, best, p: _Policy, hp, hp_two, rows):
    """(k, 2) P(KO) of `rows` (k,) after one and two landed uses, the HP to take `hp` (k,) then
    `hp_two` (k,)."""
    best, random_policy, valid = best[rows], random_policy[rows], moves[rows] >= 0
    at = (rows, best)
    plain, crit = p.plain[p.cell[at]], p.crit[p.cell[at]]
    c = np.where(side.fixed[at] >= 0, 0.0, side.crit_chance[at])
    move = np.where(valid[np.arange(len(rows)), best], moves[at], 0)
    lo, hi = dex.move_min_hits[move], dex.move_max_hits[move]
    g12 = np.zeros((len(rows), 2))
    single = ~random_policy & (hi == 1)
    multi = ~random_policy & (hi > 1)
    if single.any():
        g12[single] = _single_g12(plain[single], crit[single], c[single], hp[single],
                                  hp_two[single])  # fmt: skip
    if multi.any():
        g12[multi] = _multi_g12(
            plain[multi], crit[multi], c[multi], lo[multi], hi[multi], hp[multi], hp_two[multi]
        )
    mixed = random_policy
    if mixed.any():  # a mixture of the moveset: normal per slot for one use, then moments
        share, mean_s, var_s, mean = p.share[rows], p.mean_s[rows], p.var_s[rows], p.mean[rows]
        var = np.maximum((share * (var_s + mean_s**2)).sum(1) - mean**2, 0.0)
        z = (mean_s[mixed] - hp[mixed, None] + 0.5) / np.sqrt(var_s[mixed] + _EPS)
        g12[mixed, 0] = (share[mixed] * ndtr(z)).sum(1)
        z2 = (2 * mean[mixed] - hp_two[mixed] + 0.5) / np.sqrt(2 * var[mixed] + _EPS)
        g12[mixed, 1] = np.maximum(ndtr(z2), g12[mixed, 0])
    return g12


def _side(dex, side: SideMoves, moves, random_policy, best, p: _Policy, hp_eff, heals: drain.Heals):
    n = len(best)
    rows = np.arange(n)
    valid = moves >= 0
    g12 = _g12(dex, side, moves, random_policy, best, p, hp_eff, hp_eff + heals.first, rows)
    share, mean_s, var_s = p.share, p.mean_s, p.var_s
    mean = p.mean
    var = np.maximum((share * (var_s + mean_s**2)).sum(1) - mean**2, 0.0)
    low = np.where(share > 0, p.low_s, np.inf).min(1)
    cells = p.cell[rows, best]
    plain, crit = p.plain[cells], p.crit[cells]
    c = np.where(side.fixed[rows, best] >= 0, 0.0, side.crit_chance[rows, best])
    move = np.where(valid[rows, best], moves[rows, best], 0)
    single = ~random_policy & (dex.move_max_hits[move] == 1)
    # Against a drain, two uses with the law of the heal in between, on the exact sums.
    on = single[heals.rows]
    exact = heals.rows[on]
    g2 = np.repeat(g12[:, 1:], 2, axis=1)
    if exact.size:
        pair = (heals.values[on], heals.probs[on])
        two = drain.two_use_ko(plain[exact], crit[exact], c[exact], hp_eff[exact], pair)
        g2[exact] = np.maximum(two, g12[exact, :1])
        order = heals.order[exact]
        g12[exact, 1] = order * g2[exact, 0] + (1 - order) * g2[exact, 1]
    bucket = np.column_stack([plain.mean(1), plain.var(1), crit.mean(1), crit.var(1)])
    half = dex.move_half_hp[move] & ~random_policy
    half_uses = np.where(half, np.ceil(np.log2(np.maximum(hp_eff, 1))) + 1, 0)
    return _Side(
        land=p.land, hp=hp_eff, step=heals.mean, step_var=heals.var, mean=mean, var=var,
        low=low, expected=p.land * mean, g12=g12, g2=g2, bucket=bucket,
        crit=np.where(single, c, -1.0), half_uses=half_uses,
    )  # fmt: skip


def _g(s: _Side, rows: np.ndarray, hits: int) -> np.ndarray:
    """(k, hits) P(KO | h landed uses), h = 1..hits, nondecreasing."""
    g = np.empty((len(rows), hits))
    g[:, 0] = s.g12[rows, 0]
    g[:, 1:] = s.g12[rows, 1, None]  # a sure KO in two uses stays sure
    half = s.half_uses[rows]
    open_ = np.flatnonzero((s.g12[rows, 1] < 1.0) & (half == 0) & (s.land[rows] > 0))
    if open_.size and hits > 2:  # h uses of at least `low` each are a sure KO from hp/low on
        sure_from = drain.sure_hits(s.hp[rows[open_]], s.low[rows[open_]], s.step[rows[open_]])
        short = sure_from <= 6
        for part, width in ((open_[short], min(6, hits)), (open_[~short], hits)):
            if part.size and width > 2:
                g[part, 2:width] = _g_long(s, rows[part], width)
                g[part, width:] = 1.0
    h = np.arange(1, hits + 1)[None, :]
    g = np.where(half[:, None] > 0, (h >= half[:, None]).astype(np.float64), g)
    g = np.where(s.land[rows, None] > 0, g, 0.0)
    return np.maximum.accumulate(np.clip(g, 0.0, 1.0), axis=1).astype(np.float32)


def _g_long(s: _Side, rows: np.ndarray, hits: int) -> np.ndarray:
    """(k, hits − 2) P(KO | h landed uses) for h = 3..hits: normal sums of rolls; single-hit
    moves condition on 0, 1, 2 and 3+ crits among the h uses."""
    h = np.arange(3, hits + 1, dtype=np.float32)[None, :]
    hp = (s.hp[rows, None] + (h - 1) * s.step[rows, None]).astype(np.float32)
    mean, var = s.mean[rows, None].astype(np.float32), s.var[rows, None].astype(np.float32)
    spread = h * var + (h - 1) * s.step_var[rows, None].astype(np.float32) + _EPS
    z = (h * mean - hp + 0.5) / np.sqrt(spread)
    g = ndtr(z)
    c = s.crit[rows]
    r = np.flatnonzero(c >= 0)
    if r.size == 0:
        return g
    cc = np.minimum(c[r, None], 1 - 1e-6).astype(np.float32)
    m1, v1, m2, v2 = (s.bucket[rows[r], i, None].astype(np.float32) for i in range(4))
    p0 = (1 - cc) ** h
    p1 = h * cc * (1 - cc) ** (h - 1)
    p2 = h * (h - 1) / 2 * cc**2 * (1 - cc) ** (h - 2)
    p_3 = np.clip(1 - p0 - p1 - p2, 0.0, 1.0)
    k3 = np.where(p_3 > 1e-12, (h * cc - p1 - 2 * p2) / np.fmax(p_3, 1e-12), 3.0)
    k3 = np.clip(k3, 3.0, h)
    total = np.zeros_like(p0)
    for share, k in ((p0, 0.0), (p1, 1.0), (p2, 2.0), (p_3, k3)):
        mean = (h - k) * m1 + k * m2
        var = (h - k) * v1 + k * v2 + _EPS
        total += share * ndtr((mean - hp[r] + 0.5) / np.sqrt(var))
    g[r] = total
    return g


def _ko_cdf(s: _Side, rows: np.ndarray, hits: int, turns: int) -> np.ndarray:
    """(k, turns) P(KO within t turns), t = 1..turns: landed uses binomial, built turn by turn."""
    g = _g(s, rows, hits)
    cdf = np.empty((len(rows), turns), dtype=np.float32)
    sure = s.land[rows] >= 1.0  # every use lands: the t-th turn is the t-th use
    cdf[sure] = g[sure][:, np.minimum(np.arange(turns), hits - 1)]
    miss = np.flatnonzero(~sure)
    if miss.size == 0:
        return cdf
    g = g[miss]
    a = s.land[rows[miss], None].astype(np.float32)
    pmf = np.zeros((miss.size, hits + 1), dtype=np.float32)
    pmf[:, 0] = 1.0
    for t in range(turns):
        landed = pmf * a
        pmf *= 1 - a
        pmf[:, 1:] += landed[:, :-1]
        pmf[:, hits] += landed[:, hits]  # the last bucket absorbs (G is flat beyond it)
        cdf[miss, t] = np.einsum("ij,ij->i", pmf[:, 1:], g)
    return cdf


def _first(my_weight, me: SideMoves, other_weight, other: SideMoves, my_speed, other_speed):
    """P(my move goes first): priorities averaged over both policies, then Speed, then a coin."""
    faster = np.where(my_speed > other_speed, 1.0, np.where(my_speed < other_speed, 0.0, 0.5))
    mine, theirs = me.priority[:, :, None], other.priority[:, None, :]
    order = np.where(mine > theirs, 1.0, np.where(mine < theirs, 0.0, faster[:, None, None]))
    return np.einsum("ij,ik,ijk->i", my_weight, other_weight, order)


def _tie(me: _Side, other: _Side, my_speed, other_speed) -> np.ndarray:
    """P(I win the tie-break): HP fraction (who hurts more per turn), then Speed, then a coin."""
    faster = np.where(my_speed > other_speed, 1.0, np.where(my_speed < other_speed, 0.0, 0.5))
    mine, theirs = me.expected / (other.hp + other.step), other.expected / (me.hp + me.step)
    return np.where(mine > theirs, 1.0, np.where(mine < theirs, 0.0, faster))


def _tier(a: _Side, b: _Side) -> np.ndarray:
    """Per row, the index of the smallest horizon (hits, turns) that settles the race."""
    need = []
    for s in (a, b):
        hits = drain.sure_hits(s.hp, s.low, s.step)
        hits = np.where(s.half_uses > 0, s.half_uses, hits)
        turns = np.where(s.land > 0, hits / np.maximum(s.land, 1e-9) * 1.3 + 3, np.inf)
        need.append((hits, turns))
    fast_a = need[0][1] <= need[1][1]
    hits = np.where(fast_a, need[0][0], need[1][0])
    turns = np.minimum(need[0][1], need[1][1])
    tier = np.full(len(hits), len(TIERS) - 1)
    for i in range(len(TIERS) - 2, -1, -1):
        tier = np.where((hits <= TIERS[i][0]) & (turns <= TIERS[i][1]), i, tier)
    return tier


def race(dex: Pokedex, batch: BattleArrays, tables: BattleTables) -> Race:
    """The analytic race of every configuration of `batch` (its `build_tables` in `tables`).

    Returns a Race of float32 arrays; a_wins(A, B) == b_wins(B, A) bitwise for the swapped batch.
    """
    out = Race(*(np.empty(len(batch), np.float32) for _ in range(2)),
               *(np.empty((len(batch), KO_TURNS), np.float32) for _ in range(2)))  # fmt: skip
    pending = []
    for start in range(0, len(batch), SUB_CHUNK):
        rows = slice(start, min(start + SUB_CHUNK, len(batch)))
        pending.append(_race_chunk(dex, batch.take(rows), _take_tables(tables, rows), out, rows))
    # Recoil in the turn order the simulator applies it, and multi-hit sums exactly: the rows
    # of every sub-batch solved together (the lattice's cost is mostly per call).
    solved, a_wins, b_wins = solve_pending(pending)
    out.a_wins[solved], out.b_wins[solved] = a_wins, b_wins
    return out


def _take_tables(tables: BattleTables, rows: slice) -> BattleTables:
    def cut(obj):
        if isinstance(obj, np.ndarray):
            return obj[rows]
        return type(obj)(**{k: cut(v) for k, v in obj.__dict__.items()})

    return cut(tables)


def _race_chunk(dex, batch: BattleArrays, tb: BattleTables, out: Race, rows: slice) -> Pending:
    own_a, own_b = drain.recoil_rows(dex, batch, tb)  # recoil that goes with the heals
    pol_a = _policy(
        dex, tb.side_a, batch.moves_a, tb.random_a, tb.best_a, (tb.hp_a, tb.hp_b, own_a)
    )
    pol_b = _policy(
        dex, tb.side_b, batch.moves_b, tb.random_b, tb.best_b, (tb.hp_b, tb.hp_a, own_b)
    )
    first_a = _first(pol_a.weight, tb.side_a, pol_b.weight, tb.side_b, tb.speed_a, tb.speed_b)
    first_b = _first(pol_b.weight, tb.side_b, pol_a.weight, tb.side_a, tb.speed_b, tb.speed_a)
    hp_b = _hp_to_take(pol_a, pol_b, tb.hp_b, tb.hp_a, first_a)
    hp_a = _hp_to_take(pol_b, pol_a, tb.hp_a, tb.hp_b, first_b)
    # Once more with the other side's folded HP: how many blows each really needs.
    hp_b, hp_a = (_hp_to_take(pol_a, pol_b, tb.hp_b, hp_a, first_a),
                  _hp_to_take(pol_b, pol_a, tb.hp_a, hp_b, first_b))  # fmt: skip
    hp_b = drain.recoil_before(hp_b, tb.hp_b, pol_b.heal, own_b, pol_a.land, first_a, pol_b.land)
    hp_a = drain.recoil_before(hp_a, tb.hp_a, pol_a.heal, own_a, pol_b.land, first_b, pol_a.land)
    heal_b = drain.heals_between(pol_a.land, pol_a.mean, first_a, pol_b.land, pol_b.heal)
    heal_a = drain.heals_between(pol_b.land, pol_b.mean, first_b, pol_a.land, pol_a.heal)
    a = _side(dex, tb.side_a, batch.moves_a, tb.random_a, tb.best_a, pol_a, hp_b, heal_b)
    b = _side(dex, tb.side_b, batch.moves_b, tb.random_b, tb.best_b, pol_b, hp_a, heal_a)
    pi_a, pi_b = first_a, first_b
    tie_a = _tie(a, b, tb.speed_a, tb.speed_b)
    tie_b = _tie(b, a, tb.speed_b, tb.speed_a)
    win, lose = np.empty(len(batch)), np.empty(len(batch))
    ko_a, ko_b = np.empty((len(batch), KO_TURNS)), np.empty((len(batch), KO_TURNS))
    tier = np.maximum(_tier(a, b), _tier(b, a))  # the same horizon for (A, B) and (B, A)
    for i, (hits, turns) in enumerate(TIERS):
        r = np.flatnonzero(tier == i)
        if r.size == 0:
            continue
        fa, fb = _ko_cdf(a, r, hits, turns), _ko_cdf(b, r, hits, turns)
        ko_a[r], ko_b[r] = fa[:, :KO_TURNS], fb[:, :KO_TURNS]
        zero = np.zeros((len(r), 1), np.float32)
        da, db = (np.diff(f, axis=1, prepend=zero) for f in (fa, fb))
        both = (da * db).sum(1, dtype=np.float64)
        win[r] = (da * (1 - fb)).sum(1, dtype=np.float64) + both * pi_a[r]
        lose[r] = (db * (1 - fa)).sum(1, dtype=np.float64) + both * pi_b[r]
        on = (a.g2[r, 0] != a.g2[r, 1]) | (b.g2[r, 0] != b.g2[r, 1])  # a drain, a coin-flip order
        if on.any():  # who moves first on a turn then decides the heal before the blow and the tie
            s = r[on]
            win[s], lose[s] = drain.race_by_order((a, b), s, (fa[on], fb[on]), (pi_a[s], pi_b[s]))
    rest = np.clip(1 - (win + lose), 0.0, 1.0)
    out.a_wins[rows] = win + rest * tie_a
    out.b_wins[rows] = lose + rest * tie_b
    out.a_ko[rows], out.b_ko[rows] = ko_a, ko_b
    return pending_rows(dex, batch, tb, (pol_a, pol_b), (a, b), (first_a, first_b),
                        (tie_a, tie_b), rows.start)  # fmt: skip
