"""The arithmetic of trial assignment, free of Django: which cells, in which order, on which side.

A *cell* is one design pair shown with one prompt. actions.assign_trials holds the study's lock,
counts how many live participants each cell already has, and calls `plan_trials`; everything here
is a pure function of those counts, the participant's ordinal (how many were assigned before) and
their seed, so an assignment can be reproduced from what is stored.
"""

import random
from dataclasses import dataclass


class StudyFull(Exception):
    """No cell has room left under the study's quota."""


@dataclass(frozen=True)
class PlannedTrial:
    cell: str  # "<pair index>:<prompt name>"
    pair_index: int
    prompt: str
    first_arm_left: bool  # whether the pair's first arm is pane A


def cell_key(pair_index, prompt):
    return f"{pair_index}:{prompt}"


def balanced_latin_square_row(size, row):
    """Row `row` of a Williams balanced Latin square: every item precedes every other equally often.

    For an even size the square has `size` rows; for an odd size `2 * size` (the second half is the
    first half reversed), which is what makes first-order carry-over balanced.
    """
    if size <= 0:
        return []
    rows = size if size % 2 == 0 else 2 * size
    row %= rows
    sequence, low, high = [], 0, 0
    for position in range(size):
        if position < 2 or position % 2 == 1:
            value, low = low, low + 1
        else:
            value, high = size - high - 1, high + 1
        sequence.append((value + row) % size)
    return sequence[::-1] if row >= size else sequence


def choose_cells(cells, counts, wanted, quota, rng):
    """The `wanted` cells with the fewest participants so far (ties broken by `rng`), under the quota.

    Taking the least-filled cells keeps every cell within one participant of every other.
    """
    open_cells = [cell for cell in cells if quota is None or counts.get(cell, 0) < quota]
    if len(open_cells) < wanted:
        raise StudyFull("every cell has reached its quota")
    tiebreak = {cell: rng.random() for cell in open_cells}
    return sorted(open_cells, key=lambda cell: (counts.get(cell, 0), tiebreak[cell]))[:wanted]


def plan_trials(pairs, prompts, *, counts, ordinal, seed, order="latin_square", per_participant=None, quota=None):
    """The participant's trials in presentation order.

    pairs: the design's [first, second] arm pairs; prompts: trial prompt names in study order;
    counts: cell -> participants already holding it; ordinal: participants assigned before this one.
    Left/right is counterbalanced within the participant: each pair's trials alternate which arm
    is pane A, starting on a side that alternates between participants.
    """
    cells = [cell_key(index, prompt) for index in range(len(pairs)) for prompt in prompts]
    wanted = len(cells) if per_participant is None else min(per_participant, len(cells))
    rng = random.Random(seed)
    chosen = choose_cells(cells, counts, wanted, quota, rng)
    chosen.sort(key=cells.index)  # canonical order, so the Latin square permutes a fixed list

    if order == "latin_square":
        ordered = [chosen[i] for i in balanced_latin_square_row(len(chosen), ordinal)]
    else:
        ordered = list(chosen)
        rng.shuffle(ordered)

    # Sides alternate along each pair's cells in canonical order, starting on a side that alternates
    # between participants: balanced within the participant, and per cell across participants.
    first_left = {}
    seen_per_pair = {}
    for cell in chosen:
        pair_index = int(cell.split(":", 1)[0])
        nth = seen_per_pair.get(pair_index, 0)
        seen_per_pair[pair_index] = nth + 1
        first_left[cell] = (nth + ordinal) % 2 == 0
    planned = []
    for cell in ordered:
        pair_text, prompt = cell.split(":", 1)
        planned.append(PlannedTrial(cell, int(pair_text), prompt, first_arm_left=first_left[cell]))
    return planned


def attention_positions(trial_count, checks):
    """Where each attention check goes: after its `after_trial` regular trials, or spread evenly."""
    positions = []
    for number, check in enumerate(checks, start=1):
        after = check.get("after_trial")
        if after is None:
            after = (trial_count * number) // (len(checks) + 1)
        positions.append(max(0, min(trial_count, after)))
    return positions
