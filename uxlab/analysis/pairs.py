"""Pairs of arms: the pair table (participant-clustered shares, tests, Holm correction, effect
sizes), position bias, and Bradley–Terry strengths with ties as half a win or by Davidson's model,
with pairwise differences (no Django; docs/analysis.md).
"""

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from uxlab.analysis.clustered import (
    MIN_PARTICIPANTS,
    N_BOOT,
    bootstrap_weights,
    clustered_mean,
    clustered_proportion,
    clustered_t_test,
    clustered_t_test_reason,
    cohens_h,
    holm,
    one_blas_thread,
    percentile_interval,
)
from uxlab.analysis.stats import (
    TIE_VALUES,
    Choice,
    binomial_test,
    bradley_terry_fit,
    choice_outcomes,
    choice_win_matrix,
    pair_key,
    strongly_connected,
)

BT_TIE_OPTIONS = ("half", "davidson")


def _score(value):
    """An answer as a score for the first-named pane: 1 chose it, 0 chose the other, ½ neither."""
    return 1.0 if value == "first" else 0.0 if value == "second" else 0.5


def pair_table(choices: Sequence[Choice], order=None):
    """Per pair of arms: shares choosing each side and neither, with participant-clustered Wilson
    intervals; the preference difference P(first) − P(second) with a cluster-robust t interval (its
    effect size, with Cohen's h among decided answers); the cluster-robust t test of no preference
    (ties count half each way, so it tests P(first) = P(second)), Holm-adjusted over the table; and
    the exact binomial test on decided answers, which treats answers as independent."""
    cells = defaultdict(list)  # (first, second) -> [(participant, "first"|"second"|value)]
    for choice in choices:
        if choice.value not in ("A", "B", *TIE_VALUES):
            continue
        first, second = pair_key(choice.arm_a, choice.arm_b, order)
        if choice.value in TIE_VALUES:
            outcome = choice.value
        else:
            chosen = choice.arm_a if choice.value == "A" else choice.arm_b
            outcome = "first" if chosen == first else "second"
        cells[(first, second)].append((choice.participant, outcome))
    rows = []
    for (first, second), answers in cells.items():
        people = [p for p, _ in answers]
        decided = [(p, o) for p, o in answers if o in ("first", "second")]
        scores = [_score(o) for _, o in answers]
        signed = [2 * s - 1 for s in scores]  # +1 first, −1 second, 0 neither: its mean is P(first) − P(second)
        difference = clustered_mean(signed, people)
        among_decided = clustered_proportion([o == "first" for _, o in decided], [p for p, _ in decided])
        first_count = sum(o == "first" for _, o in decided)
        row = {
            "first": first, "second": second, "n": len(answers), "n_participants": len(set(people)),
            "chose_first": clustered_proportion([o == "first" for o in (o for _, o in answers)], people),
            "chose_second": clustered_proportion([o == "second" for _, o in answers], people),
            "no_difference": clustered_proportion([o == "tie" for _, o in answers], people),
            "first_among_decided": among_decided,
            "difference": {k: difference[k] for k in ("mean", "ci_low", "ci_high", "se")},
            "cohens_h": cohens_h(among_decided["share"]),
            "p_value": clustered_t_test(scores, people, 0.5),
            "p_value_note": clustered_t_test_reason(scores, people),
            "p_exact_independent": binomial_test(first_count, len(decided)),
        }
        if any(o == "both_bad" for _, o in answers):
            row["both_bad"] = clustered_proportion([o == "both_bad" for _, o in answers], people)
        rows.append(row)
    rank = {name: position for position, name in enumerate(order or [])}
    rows.sort(key=lambda r: (rank.get(r["first"], 1e9), rank.get(r["second"], 1e9), r["first"], r["second"]))
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows


def position_bias(choices: Sequence[Choice]):
    """How often the left pane (A) is chosen among decided answers: a clustered share, the cluster-robust
    t test against ½, and the exact binomial test (answers as independent)."""
    decided = [c for c in choices if c.value in ("A", "B")]
    left = [c.value == "A" for c in decided]
    people = [c.participant for c in decided]
    return {
        "chose_left": clustered_proportion(left, people),
        "p_value": clustered_t_test([float(v) for v in left], people, 0.5),
        "p_value_note": clustered_t_test_reason([float(v) for v in left], people),
        "p_exact_independent": binomial_test(sum(left), len(left)),
    }


# --- Bradley–Terry -------------------------------------------------------------------------------


def davidson_fit(wins, ties, start=None):
    """Davidson's (1970) extension of Bradley–Terry by maximum likelihood:
    P(i ≻ j) = π_i / (π_i + π_j + ν√(π_i π_j)), P(tie) = ν√(π_i π_j) / (same).
    Returns (log-strengths with mean zero, ν). Half a win each way is added to every compared pair
    when an arm never wins or never loses, as for the plain model, so the estimate stays finite."""
    wins = np.asarray(wins, dtype=float)
    ties = np.asarray(ties, dtype=float)
    k = len(wins)
    games = wins + wins.T + ties
    compared = np.triu(games > 0, 1)
    i_idx, j_idx = np.nonzero(compared)
    w_ij, w_ji, t_ij = wins[i_idx, j_idx], wins[j_idx, i_idx], ties[i_idx, j_idx]
    if np.any(wins.sum(axis=1) + ties.sum(axis=1) / 2 == 0) or np.any(wins.sum(axis=0) + ties.sum(axis=0) / 2 == 0):
        w_ij, w_ji = w_ij + 0.5, w_ji + 0.5

    def objective(theta):
        s = np.concatenate([[0.0], theta[: k - 1]])
        log_nu = theta[k - 1]
        a, b = s[i_idx], s[j_idx]
        tie_term = log_nu + (a + b) / 2
        log_z = np.logaddexp(np.logaddexp(a, b), tie_term)
        value = -float((w_ij * (a - log_z) + w_ji * (b - log_z) + t_ij * (tie_term - log_z)).sum())
        n = w_ij + w_ji + t_ij
        p_a, p_b, p_t = np.exp(a - log_z), np.exp(b - log_z), np.exp(tie_term - log_z)
        d_a = -(w_ij + t_ij / 2 - n * (p_a + p_t / 2))
        d_b = -(w_ji + t_ij / 2 - n * (p_b + p_t / 2))
        per_arm = np.bincount(i_idx, d_a, minlength=k) + np.bincount(j_idx, d_b, minlength=k)
        return value, np.concatenate([per_arm[1:], [-(t_ij - n * p_t).sum()]])

    theta0 = np.zeros(k) if start is None else start
    if start is None:
        share = max(ties.sum() / 2, 0.5) / max(games.sum() / 2, 1.0)
        theta0[k - 1] = math.log(2 * share / max(1 - share, 1e-3))
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=[(-20, 20)] * (k - 1) + [(-15, 5)])
    s = np.concatenate([[0.0], result.x[: k - 1]])
    return s - s.mean(), float(math.exp(result.x[k - 1])), result.x


def bradley_terry_newton(wins, tol=1e-10, max_iter=100):
    """The Bradley–Terry MLE (as stats.bradley_terry_fit, Hunter's MM) by Newton's method on the
    log-strengths, which takes a handful of steps where MM may take thousands: the bootstrap's fit.
    The same half-win regularisation applies when an arm never wins or never loses."""
    wins = np.asarray(wins, dtype=float)
    if not strongly_connected(wins):
        wins = wins + 0.5 * ((wins + wins.T) > 0)
    games = wins + wins.T
    k = len(wins)
    s = np.zeros(k)
    total = wins.sum(axis=1)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(s[None, :] - s[:, None]))  # p[i, j] = P(i beats j)
        gradient = total - (games * p).sum(axis=1)
        w = games * p * p.T
        hessian = w - np.diag(w.sum(axis=1))
        # Fix the first strength at 0 (the rest are relative to it); centre at the end.
        step = np.linalg.solve(hessian[1:, 1:] - 1e-12 * np.eye(k - 1), -gradient[1:])
        s[1:] += np.clip(step, -5, 5)
        if np.max(np.abs(step)) < tol:
            break
    return s - s.mean()


def strongly_connected_batch(wins):
    """strongly_connected for a stack of win matrices (B, k, k) at once: which reach every arm
    from every other both ways, by squaring the reachability matrices log2(k) times."""
    k = wins.shape[-1]
    reach = (wins > 0) | np.eye(k, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(max(k, 2))))):
        reach = np.matmul(reach.astype(np.float64), reach.astype(np.float64)) > 0
    return reach.all(axis=(1, 2))


def bradley_terry_newton_batch(wins, tol=1e-10, max_iter=100):
    """bradley_terry_newton on a stack of win matrices (B, k, k), all resamples of a bootstrap in
    one: each matrix takes the same Newton steps as it would alone and stops when its own step is
    below ``tol`` (tests/analysis/test_pairs.py checks the two agree)."""
    wins = np.array(wins, dtype=float)
    if wins.shape[0] == 0:
        return np.zeros((0, wins.shape[-1]))
    unconnected = ~strongly_connected_batch(wins)
    wins[unconnected] += 0.5 * ((wins[unconnected] + np.swapaxes(wins[unconnected], 1, 2)) > 0)
    games = wins + np.swapaxes(wins, 1, 2)
    n, k = wins.shape[:2]
    s = np.zeros((n, k))
    total = wins.sum(axis=2)
    active = np.arange(n)
    ridge = 1e-12 * np.eye(k - 1)
    for _ in range(max_iter):
        if not len(active):
            break
        strengths, played = s[active], games[active]
        p = 1 / (1 + np.exp(strengths[:, None, :] - strengths[:, :, None]))  # p[b, i, j] = P(i beats j)
        gradient = total[active] - (played * p).sum(axis=2)
        w = played * p * np.swapaxes(p, 1, 2)
        hessian = w - np.einsum("bi,ij->bij", w.sum(axis=2), np.eye(k))
        step = np.linalg.solve(hessian[:, 1:, 1:] - ridge, -gradient[:, 1:, None])[:, :, 0]
        s[active, 1:] += np.clip(step, -5, 5)
        active = active[np.max(np.abs(step), axis=1) >= tol]
    return s - s.mean(axis=1, keepdims=True)


def _weighted(weights, per_participant):
    """Σ_p w_p · M_p without a BLAS call (threaded BLAS is slower than this on small arrays)."""
    return (weights[:, None, None] * per_participant).sum(axis=0)


BT_INTERVAL_MESSAGE = ("Too few participants for intervals ({n_participants}; at least {min_participants} are "
                       "needed for a participant bootstrap): the strengths are point estimates only, and no "
                       "difference is marked as excluding 0.")


def bradley_terry(choices: Sequence[Choice], arms: Sequence[str], ties="half", n_boot=N_BOOT, seed=0,
                  min_participants=MIN_PARTICIPANTS):
    """Log-strengths of every compared arm and every pairwise difference, with participant-bootstrap
    95% intervals. ties="half": a "no difference" is half a win each way (the usual convention);
    ties="davidson": ties are their own outcome, with tie parameter ν. With fewer than
    `min_participants` participants a bootstrap over them means nothing (one participant resampled is
    always the same data: a zero-width interval): the intervals are None and `interval_status` says so."""
    if ties not in BT_TIE_OPTIONS:
        raise ValueError(f"ties must be one of {', '.join(BT_TIE_OPTIONS)}")
    by_participant = defaultdict(list)
    for choice in choices:
        if choice.arm_a in arms and choice.arm_b in arms:
            by_participant[choice.participant].append(choice)
    compared = {arm for group in by_participant.values() for choice in group for arm in (choice.arm_a, choice.arm_b)}
    arms = [arm for arm in arms if arm in compared]
    empty = {"arms": [], "differences": [], "n_participants": 0, "regularized": False, "ties": ties,
             "tie_parameter": None, "n_boot": n_boot, "interval_status": "ok", "interval_message": ""}
    if not by_participant or len(arms) < 2:
        return empty
    tensors = [choice_outcomes(group, arms) for group in by_participant.values()]
    wins = np.stack([w for w, _ in tensors])
    tie_counts = np.stack([t for _, t in tensors])
    if ties == "half":
        matrices = np.stack([choice_win_matrix(group, arms) for group in by_participant.values()])
        estimate, regularized = bradley_terry_fit(matrices.sum(axis=0))
        nu = None
    else:
        estimate, nu, theta = davidson_fit(wins.sum(axis=0), tie_counts.sum(axis=0))
        totals = wins.sum(axis=0)
        regularized = bool(np.any(totals.sum(axis=1) + tie_counts.sum(axis=0).sum(axis=1) / 2 == 0)
                           or np.any(totals.sum(axis=0) + tie_counts.sum(axis=0).sum(axis=0) / 2 == 0))
    enough = len(tensors) >= min_participants
    weights = bootstrap_weights(len(tensors), n_boot, seed) if enough else []
    samples = np.full((n_boot if enough else 1, len(arms)), np.nan)
    nus = []
    with one_blas_thread():
        if ties == "half" and enough:
            samples[:] = bradley_terry_newton_batch(np.einsum("bp,pij->bij", weights, matrices))
        for b, w in enumerate(weights if ties == "davidson" else []):
            samples[b], boot_nu, _ = davidson_fit(_weighted(w, wins), _weighted(w, tie_counts), start=theta)
            nus.append(boot_nu)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0) if enough else ([None] * len(arms),) * 2
    differences = []
    for i, first in enumerate(arms):
        for j in range(i + 1, len(arms)):
            diff = estimate[i] - estimate[j]
            interval = percentile_interval(samples[:, i] - samples[:, j]) if enough else (None, None)
            differences.append({
                "first": first, "second": arms[j], "difference": float(diff),
                "ci_low": interval[0], "ci_high": interval[1],
                # P(first preferred to second) among decided answers, from the strengths.
                "p_first_preferred": float(1 / (1 + math.exp(-diff))),
                "excludes_zero": bool(interval[0] is not None and interval[1] is not None
                                      and (interval[0] > 0 or interval[1] < 0)),
            })
    return {
        "arms": [{"arm": arm, "log_strength": float(estimate[i]),
                  "ci_low": None if low[i] is None else float(low[i]),
                  "ci_high": None if high[i] is None else float(high[i])}
                 for i, arm in enumerate(arms)],
        "differences": differences,
        "n_participants": len(tensors),
        "n_boot": n_boot,
        "regularized": bool(regularized),
        "ties": ties,
        "tie_parameter": nu,
        "tie_parameter_ci": percentile_interval(nus) if nus else None,
        "interval_status": "ok" if enough else "too_few_participants",
        "interval_message": "" if enough else BT_INTERVAL_MESSAGE.format(n_participants=len(tensors),
                                                                          min_participants=min_participants),
    }
