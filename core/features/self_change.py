"""The analytic race on the lattice of landed uses: recoil in the simulator's turn order, and
the exact sums of multi-hit moves.

The simulator applies recoil after each landed use, in the turn's order: a use that KOs its
target wins even if its recoil KOs the user too; a use that does not KO can KO its user (the
other side wins). Folding the expected recoil into the HP to take misses that timing (46 points
off for Spearow vs Rattata, Rattata using Double-Edge), so these rows are solved here instead.

Counts of landed uses are independent of the damage they deal. With k landed uses by A and j by
B, A's HP is hp_a − S_B(j) − k·recoil_A and B's likewise, where S(k) is the exact sum of k uses'
damage (by convolution of one use's law: every roll, crit and hit count). Both alive at (k, j)
is then F_A(k, H_B(j)) · F_B(j, H_A(k)) with F(k, h) = P(S(k) < h), and since HP only goes down,
alive at (k, j) means alive on the whole way there. A's (k+1)-th use at (k, j) wins when it takes
S_A over H_B(j); it loses the battle when it does not and its recoil takes H_A under S_B(j). The
expected visits of (k, j) at each side's action come turn by turn from the per-turn landing
chances and P(moving first); what is left at the horizon goes to the tie-break. Recoil per use
is its exact expectation over the uses that do not KO from full HP: the one approximation.
Drain is left to the race of `core.features.analytic` (a heal breaks "alive at (k, j) means
alive all the way"), which puts the heals between the attacker's blows (`core.features.drain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from core.pokedex import HITS_2_TO_5

# (landed uses per side, turns) of the lattice, smallest first: a row goes to the first tier its
# races fit; rows that need more than the last keep the folded race of `core.features.analytic`.
TIERS: tuple[tuple[int, int], ...] = ((3, 8), (6, 16), (16, 48))
FFT_WORKERS = 2  # threads per transform, rows split between them (the fit's n_jobs too)
HP_BAND = 192  # rows whose larger HP is below it are solved apart (shorter sums)
_K_PMF = np.zeros(6)
for _k, _share in HITS_2_TO_5:
    _K_PMF[_k] = _share


@dataclass
class UseLaw:
    """One side's landed use, per row (m rows): damage pmf (m, size) with the last bucket meaning
    "that much or more", and the expected HP the user loses per landed use (recoil, Struggle)."""

    pmf: np.ndarray
    recoil: np.ndarray


def _recoil_of(damage: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Recoil (HP) of a use that dealt `damage` (the simulator's rounding, at least 1)."""
    raw = np.floor((2 * damage * num + den) / (2 * den))
    return np.where((num > 0) & (damage > 0), np.maximum(raw, 1.0), 0.0)


def _convolve(x: np.ndarray, y: np.ndarray, y_hat: np.ndarray | None = None) -> np.ndarray:
    """Row-wise convolution of pmfs (m, size), the tail from the last bucket on lumped into it
    (`y_hat`: y's transform at this length, when the caller keeps it)."""
    size = x.shape[1]
    n = scipy.fft.next_fast_len(2 * size - 1, real=True)
    if y_hat is None:
        y_hat = scipy.fft.rfft(y, n, workers=FFT_WORKERS)
    out = scipy.fft.irfft(
        scipy.fft.rfft(x, n, workers=FFT_WORKERS) * y_hat, n, workers=FFT_WORKERS
    )[:, : 2 * size - 1]
    out = np.maximum(out, 0.0)
    out[:, size - 1] = out[:, size - 1 :].sum(1)
    return out[:, :size]


def use_law(dex, side, moves, pol, rows: np.ndarray, defender_hp, own_hp, size: int) -> UseLaw:
    """The law of one landed use of the policy `pol` (a `_Policy`) for `rows`, damage < size."""
    m = len(rows)
    pmf = np.zeros((m, size))
    recoil = np.zeros(m)
    damage = np.arange(size, dtype=np.float64)[None, :]
    for slot in range(moves.shape[1]):
        share = pol.share[rows, slot]
        on = np.flatnonzero(share > 0)
        if on.size == 0:
            continue
        r = rows[on]
        plain, crit = pol.plain[pol.cell[r, slot]], pol.crit[pol.cell[r, slot]]
        fixed = side.fixed[r, slot] >= 0
        c = np.where(fixed, 0.0, side.crit_chance[r, slot])[:, None]
        rolls = plain.shape[1]
        cells = np.arange(on.size)[:, None] * size
        where = np.concatenate(
            [cells + np.minimum(plain, size - 1), cells + np.minimum(crit, size - 1)], 1
        )
        chance = np.concatenate([np.broadcast_to((1 - c) / rolls, plain.shape),
                                 np.broadcast_to(c / rolls, crit.shape)], 1)  # fmt: skip
        hit = np.bincount(where.astype(np.int64).ravel(), chance.ravel(), on.size * size)
        hit = hit.reshape(on.size, size)
        move = moves[r, slot]
        use = _hits_law(dex, hit, dex.move_min_hits[move], dex.move_max_hits[move])
        lost = _recoil_lost(dex, move, use, defender_hp[r], damage)
        struggle = dex.move_struggle_recoil[move] * np.maximum((2 * own_hp[r] + 4) // 8, 1)
        pmf[on] += share[on, None] * use
        recoil[on] += share[on] * (lost + struggle)
    return UseLaw(pmf=pmf, recoil=recoil)


def _recoil_lost(dex, move: np.ndarray, use: np.ndarray, defender_hp, damage) -> np.ndarray:
    """(m,) expected recoil (HP) of a landed use that does not KO (the use's law `use` (m, size),
    `damage` the buckets (1, size)); 0 for a move without recoil, whose rows are not computed."""
    lost = np.zeros(len(move))
    hurt = np.flatnonzero(dex.move_recoil[move, 0] > 0)
    if hurt.size == 0:
        return lost
    use, move = use[hurt], move[hurt]
    # Recoil matters when the use does not KO: its expectation over such uses.
    keeps = np.where(damage < defender_hp[hurt, None], use, 0.0)
    kept = keeps.sum(1, keepdims=True)
    law = np.where(kept > 1e-9, keeps / np.maximum(kept, 1e-12), use)
    num, den = dex.move_recoil[move, 0][:, None], dex.move_recoil[move, 1][:, None]
    lost[hurt] = (law * _recoil_of(damage, num, den)).sum(1)
    return lost


def _hits_law(dex, hit: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The damage law of one use from the law of one hit: k hits, k fixed or 2–5 (35/35/15/15)."""
    if (hi <= 1).all():
        return hit
    out = hit.copy()
    multi = np.flatnonzero(hi > 1)
    power = hit[multi]
    power_hat = scipy.fft.rfft(  # the one hit's transform, shared by the 4 convolutions
        power, scipy.fft.next_fast_len(2 * power.shape[1] - 1, real=True), workers=FFT_WORKERS
    )
    law = np.zeros_like(power)
    for k in range(2, 6):
        power = _convolve(power, hit[multi], power_hat)
        share = np.where(lo[multi] == hi[multi], (lo[multi] == k).astype(float), _K_PMF[k])
        law += share[:, None] * power
    out[multi] = law
    return out


def _cdf_at(pmf_k: np.ndarray, h: np.ndarray) -> np.ndarray:
    """P(S < h) for real thresholds h (m, ...) from the pmf of S (m, size), linear in h."""
    cdf = np.zeros((len(pmf_k), pmf_k.shape[1] + 1))  # P(S < x) for x = 0..size
    np.cumsum(pmf_k, 1, out=cdf[:, 1:])
    top = cdf.shape[1] - 1
    flat = h.reshape(len(h), -1)
    base = np.clip(np.floor(flat), 0, top).astype(np.int64)
    frac = np.where(flat <= 0, 0.0, np.clip(flat - np.floor(flat), 0.0, 1.0))
    low = np.take_along_axis(cdf, base, 1)
    high = np.take_along_axis(cdf, np.minimum(base + 1, top), 1)
    out = np.where(flat <= 0, 0.0, low + frac * (high - low))
    return out.reshape(h.shape)


def _alive_tables(me: UseLaw, hp_other: np.ndarray, other: UseLaw, uses: int, last: np.ndarray):
    """For my attacks: F(k, H(j)) and F(k+1, H(j)) for k = 0..uses, j = 0..uses + 1, where
    H(j) is the other side's HP to take after its j landed uses (m, uses+1, uses+2). A row's
    tables past its own last count `last` (m,) are left 0: the action weights there are 0."""
    j = np.arange(uses + 2, dtype=np.float64)[None, :]
    h = hp_other[:, None] - other.recoil[:, None] * j
    same, nxt = np.zeros((len(h), uses + 1, uses + 2)), np.zeros((len(h), uses + 1, uses + 2))
    law = me.pmf
    law_hat = scipy.fft.rfft(
        law, scipy.fft.next_fast_len(2 * law.shape[1] - 1, real=True), workers=FFT_WORKERS
    )
    same[:, 0] = (h > 0).astype(np.float64)  # nothing dealt yet: alive while the HP is
    live, total = np.arange(len(h)), law
    for step in range(uses + 1):
        if step:
            same[:, step] = nxt[:, step - 1]
            # A row whose defender is surely down by now needs no longer sums (its F stay 0),
            # nor one past its last count (its counts stop there: weight 0 beyond).
            going = (same[live, step].max(1) >= 1e-12) & (last[live] >= step)
            live, total = live[going], total[going]
            if live.size == 0:
                break
            total = _convolve(total, law, law_hat[live])  # y unused: its transform is given
        nxt[live, step] = _cdf_at(total, h[live])
    return same, nxt


def _step(p: np.ndarray, land: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Counts of landed uses (m, uses+1) after one more use at `land`; each row's count `last`
    absorbs (so a row's answer does not depend on the other rows solved with it)."""
    out = p * (1 - land[:, None])
    out[:, 1:] += p[:, :-1] * land[:, None]
    out[:, -1] += p[:, -1] * land
    rows = np.arange(len(p))
    over = np.minimum(last + 1, p.shape[1] - 1)
    spill = np.where(last + 1 < p.shape[1], out[rows, over], 0.0)
    out[rows, last] += spill
    out[rows, over] -= spill
    return out


def _action_weights(land_me, land_other, first_me, first_other, limits):
    """Expected (my count, other's count) at my actions, (m, uses+1, uses+1), over each row's
    turns: the other has acted this turn already when it moved first. `limits` is (uses, turns,
    each row's last count, each row's turns)."""
    uses, turns, last, row_turns = limits
    m = len(land_me)
    mine, theirs = np.zeros((m, uses + 1)), np.zeros((m, uses + 1))
    mine[:, 0] = theirs[:, 0] = 1.0
    weight = np.zeros((m, uses + 1, uses + 1))
    for turn in range(turns):
        theirs_next = _step(theirs, land_other, last)
        seen = first_me[:, None] * theirs + first_other[:, None] * theirs_next
        weight += (mine * (turn < row_turns)[:, None])[:, :, None] * seen[:, None, :]
        mine, theirs = _step(mine, land_me, last), theirs_next
    return weight


def _action_terms(mine_same, mine_next, theirs_same, land, uses: int):
    """At my action with counts (k, j), (m, k, j): P(my use KOs them) and P(it does not and its
    recoil KOs me), each times P(both alive before)."""
    n = uses + 1
    alive_me = np.swapaxes(theirs_same[:, :n, :n], 1, 2)  # P(S_other(j) < H_me(j, k))
    after = np.swapaxes(theirs_same[:, :n, 1 : n + 1], 1, 2)  # ... < H_me(j, k + 1)
    ko = land[:, None, None] * (mine_same[:, :, :n] - mine_next[:, :, :n]) * alive_me
    own = land[:, None, None] * mine_next[:, :, :n] * np.maximum(alive_me - after, 0.0)
    return ko, own


def lattice_wins(a: UseLaw, b: UseLaw, land, hp, first, limits):
    """(P(A wins), P(B wins)) within each row's turns, each (m,); the rest is the tie-break's.

    `land`, `hp`, `first` are (A's, B's) pairs: landing chance per turn, HP, P(moving first);
    `limits` is (uses, turns) of the arrays and (m,) each row's last count and turns.
    Symmetric by construction: the swapped rows give the two answers swapped, bit for bit.
    """
    uses, last = limits[0], limits[2]
    fa_same, fa_next = _alive_tables(a, hp[1], b, uses, last)  # A's sums vs B's HP: (m, k, j)
    fb_same, fb_next = _alive_tables(b, hp[0], a, uses, last)  # (m, j, k)
    wa = _action_weights(land[0], land[1], first[0], first[1], limits)
    wb = _action_weights(land[1], land[0], first[1], first[0], limits)
    ko_a, own_a = _action_terms(fa_same, fa_next, fb_same, land[0], uses)
    ko_b, own_b = _action_terms(fb_same, fb_next, fa_same, land[1], uses)
    win_a = (wa * ko_a).sum((1, 2)) + (wb * own_b).sum((1, 2))
    win_b = (wb * ko_b).sum((1, 2)) + (wa * own_a).sum((1, 2))
    return win_a, win_b


def _changes_own_hp(dex, moves: np.ndarray, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) the policy lands uses that cost the user HP (recoil, Struggle) or hit several times;
    (n,) it uses a move the lattice leaves to the folded race: a drain (healing breaks "alive at (k, j) means alive
    all the way there") or a half-HP move (its damage depends on the HP left)."""
    index = np.where(moves >= 0, moves, 0)
    used = share > 0
    own = (dex.move_recoil[index, 0] > 0) | dex.move_struggle_recoil[index]
    own |= dex.move_max_hits[index] > 1  # the sums of its hits are exact here, not normal
    other = (dex.move_drain[index, 0] > 0) | dex.move_half_hp[index]
    return (own & used).any(1), (other & used).any(1)


def _turns(need: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Turns a race of `hits` landed uses lasts at most but for a tiny chance (the mean plus
    three standard deviations of the turns it takes, plus one); inf when it never ends."""
    hits, land = need
    land = np.maximum(land, 1e-9)
    spread = 3 * np.sqrt(hits * (1 - land)) / land
    return np.where(hits > 0, np.ceil(hits / land + spread) + 1, np.inf)


@dataclass
class Pending:
    """Rows of a batch to solve on the lattice, with what the lattice needs (all per row)."""

    rows: np.ndarray  # (m,) rows of the batch
    law_a: UseLaw
    law_b: UseLaw
    land: tuple[np.ndarray, np.ndarray]  # P(a use lands) per turn, A's and B's
    hp: tuple[np.ndarray, np.ndarray]
    first: tuple[np.ndarray, np.ndarray]  # P(moving first), A's and B's
    tie: tuple[np.ndarray, np.ndarray]  # P(winning the tie-break), A's and B's
    hits: np.ndarray  # landed uses the longer race needs at most
    turns: np.ndarray  # turns it may take


def pending_rows(dex, batch, tables, policies, sides, first, tie, offset: int) -> Pending:
    """The rows of a sub-batch (its first row is row `offset` of the batch) that the lattice
    solves: both sides play their best move, one of which costs its user HP (recoil, Struggle)
    or hits several times, none is a drain or half-HP move, and the races fit the last tier.

    `policies`, `sides`, `first` and `tie` are (A's, B's) `_Policy`, `_Side`, P(moving first)
    and P(winning the tie-break) of `core.features.analytic`.
    """
    own_a, other_a = _changes_own_hp(dex, batch.moves_a, policies[0].share)
    own_b, other_b = _changes_own_hp(dex, batch.moves_b, policies[1].share)
    if not (own_a | own_b).any():  # most one-row answers: nothing for the lattice
        return _no_rows()
    hp = (tables.hp_a.astype(np.float64), tables.hp_b.astype(np.float64))
    needs = []
    for side, other_hp in ((sides[0], hp[1]), (sides[1], hp[0])):
        hits = np.where(side.land > 0, np.ceil(other_hp / np.maximum(side.low, 1e-9)), 0.0)
        needs.append((hits, side.land))
    # The battle is over (nearly surely) once the faster race is: the faster side lands the
    # uses it needs, the other no more uses than the battle lasts turns.
    turns = np.minimum(_turns(needs[0]), _turns(needs[1]))
    fast = np.where(_turns(needs[0]) <= _turns(needs[1]), needs[0][0], needs[1][0])
    hits = np.maximum(fast, np.minimum(np.maximum(needs[0][0], needs[1][0]), turns))
    # Decided at the first action (the side moving first surely KOs with its first use, its
    # least damage at least the other's full HP): the folded race answers exactly 1 or 0 there.
    decided = np.zeros(len(hits), dtype=bool)
    for side, moves_first, other_hp in zip(sides, first, hp[::-1], strict=True):
        decided |= (moves_first == 1) & (side.land >= 1) & (side.low >= other_hp)
    # Both on the best policy: a mixture's recoil varies with the move drawn (and costs more).
    rows = np.flatnonzero(
        (own_a | own_b) & ~other_a & ~other_b & ~tables.random_a & ~tables.random_b & ~decided
        & (hits < TIERS[-1][0]) & (turns <= TIERS[-1][1])
    )  # fmt: skip
    if rows.size == 0:
        return _no_rows()
    size = int(max(hp[0][rows].max(initial=0), hp[1][rows].max(initial=0))) + 2
    return Pending(
        rows=rows + offset,
        law_a=use_law(dex, tables.side_a, batch.moves_a, policies[0], rows, hp[1], hp[0], size),
        law_b=use_law(dex, tables.side_b, batch.moves_b, policies[1], rows, hp[0], hp[1], size),
        land=(policies[0].land[rows], policies[1].land[rows]), hp=(hp[0][rows], hp[1][rows]),
        first=(first[0][rows], first[1][rows]), tie=(tie[0][rows], tie[1][rows]),
        hits=hits[rows], turns=turns[rows],
    )  # fmt: skip


def _no_rows() -> Pending:
    """A Pending without rows (`solve_pending` skips it)."""
    none, law = np.empty(0), UseLaw(np.zeros((0, 2)), np.zeros(0))
    return Pending(np.empty(0, np.int64), law, law, *(((none, none),) * 4), none, none)


def _joined(parts: list[Pending]) -> Pending:
    """One Pending from several (pmfs zero-padded to the widest: a row's last bucket stays
    above every threshold of that row, so padding changes nothing)."""
    size = max(part.law_a.pmf.shape[1] for part in parts)

    def pad(x: np.ndarray) -> np.ndarray:
        return np.pad(x, ((0, 0), (0, size - x.shape[1])))

    def law(name: str) -> UseLaw:
        laws = [getattr(part, name) for part in parts]
        return UseLaw(
            np.concatenate([pad(x.pmf) for x in laws]), np.concatenate([x.recoil for x in laws])
        )

    def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
        return tuple(np.concatenate([getattr(part, name)[i] for part in parts]) for i in (0, 1))

    return Pending(
        rows=np.concatenate([part.rows for part in parts]), law_a=law("law_a"), law_b=law("law_b"),
        land=pair("land"), hp=pair("hp"), first=pair("first"), tie=pair("tie"),
        hits=np.concatenate([part.hits for part in parts]),
        turns=np.concatenate([part.turns for part in parts]),
    )  # fmt: skip


def _cut(pmf: np.ndarray, size: int) -> np.ndarray:
    """The pmf with everything from `size` − 1 on lumped into its last bucket."""
    out = pmf[:, :size].copy()
    out[:, -1] += pmf[:, size:].sum(1)
    return out


def solve_pending(parts: list[Pending]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, P(A wins), P(B wins)) of the pending rows, the rest left to the tie-break: each
    row in the first tier its races fit, each tier with its own rows' horizon."""
    parts = [part for part in parts if part.rows.size]
    if not parts:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    job = _joined(parts)
    tier = np.full(job.rows.size, len(TIERS) - 1)
    for i in range(len(TIERS) - 2, -1, -1):
        tier = np.where((job.hits < TIERS[i][0]) & (job.turns <= TIERS[i][1]), i, tier)
    tier = 2 * tier + (np.maximum(job.hp[0], job.hp[1]) >= HP_BAND)
    win_a, win_b = np.empty(job.rows.size), np.empty(job.rows.size)
    for i in range(2 * len(TIERS)):
        r = np.flatnonzero(tier == i)
        if r.size == 0:
            continue
        last, turns = job.hits[r].astype(np.int64) + 1, job.turns[r].astype(np.int64)
        limits = (int(last.max()), int(turns.max()), last, turns)
        size = int(np.maximum(job.hp[0][r], job.hp[1][r]).max()) + 2  # the sums that matter
        law_a = UseLaw(_cut(job.law_a.pmf[r], size), job.law_a.recoil[r])
        law_b = UseLaw(_cut(job.law_b.pmf[r], size), job.law_b.recoil[r])
        win_a[r], win_b[r] = lattice_wins(
            law_a, law_b, (job.land[0][r], job.land[1][r]), (job.hp[0][r], job.hp[1][r]),
            (job.first[0][r], job.first[1][r]), limits,
        )  # fmt: skip
    rest = np.clip(1 - (win_a + win_b), 0.0, 1.0)
    return job.rows, win_a + rest * job.tie[0], win_b + rest * job.tie[1]
