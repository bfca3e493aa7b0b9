"""Trial assignment: balanced cells, Latin-square order, within-participant left/right balance."""

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import import_yaml
from uxlab.studies import actions
from uxlab.studies.assignment import StudyFull, balanced_latin_square_row, plan_trials
from uxlab.studies.models import Participant

BALANCE_STUDY_YAML = """
version: 1
code: balance
title: Balance
consent:
  text: You agree.
arms:
  - {name: fast, tokens_per_second: 400}
  - {name: mid, tokens_per_second: 100}
  - {name: slow, tokens_per_second: 20}
prompts:
  - {name: p1, text: "One?", response: One.}
  - {name: p2, text: "Two?", response: Two.}
  - {name: p3, text: "Three?", response: Three.}
questions:
  - {name: faster, kind: forced_choice, text: "Which felt faster?"}
practice:
  text: "Practice?"
  response: Practice.
attention_checks:
  - {name: check, text: "Check?", response: Choose B., question: faster, expected: B, after_trial: 1}
design:
  pairs: [[fast, slow], [mid, slow]]
  seed: balance
  trials_per_participant: 4
"""


@given(st.integers(min_value=1, max_value=9), st.integers(min_value=0, max_value=40))
def test_it_builds_latin_square_rows_that_are_permutations(size, row):
    assert sorted(balanced_latin_square_row(size, row)) == list(range(size))


@pytest.mark.parametrize("size", [2, 3, 4, 5, 6])
def test_it_balances_first_order_carry_over_in_the_latin_square(size):
    rows = size if size % 2 == 0 else 2 * size
    square = [balanced_latin_square_row(size, row) for row in range(rows)]
    for position in range(size):
        assert sorted(row[position] for row in square) == sorted(list(range(size)) * (rows // size))
    follows = Counter((a, b) for row in square for a, b in itertools.pairwise(row))
    assert set(follows.values()) == {rows // size} and len(follows) == size * (size - 1)


def test_it_counterbalances_left_and_right_within_each_participant():
    for ordinal in range(6):
        planned = plan_trials([["x", "y"], ["x", "z"]], ["p1", "p2", "p3", "p4", "p5"], counts={}, ordinal=ordinal, seed=str(ordinal))
        for pair_index in (0, 1):
            sides = Counter(item.first_arm_left for item in planned if item.pair_index == pair_index)
            assert abs(sides[True] - sides[False]) <= 1


def test_it_refuses_when_every_cell_is_at_its_quota():
    with pytest.raises(StudyFull):
        plan_trials([["x", "y"]], ["p1"], counts={"0:p1": 2}, ordinal=0, seed="s", quota=2)


@pytest.mark.django_db
def test_it_keeps_every_cell_within_one_over_200_participants(team):
    study = import_yaml(BALANCE_STUDY_YAML, team)
    participants = [actions.give_consent(actions.enroll_participant(study)) for _ in range(200)]

    cells = Counter(
        trial.cell for participant in participants for trial in participant.trials.all() if trial.kind == "trial"
    )
    assert len(cells) == 6
    assert max(cells.values()) - min(cells.values()) <= 1
    assert sum(cells.values()) == 200 * 4
    # Within each participant, each pair's first arm is pane A as often as pane B, within one.
    for participant in participants:
        sides = Counter()
        for trial in participant.trials.filter(kind="trial").select_related("arm_a"):
            sides[trial.cell.split(":")[0], trial.arm_a.name] += 1
        for pair, (first, second) in (("0", ("fast", "slow")), ("1", ("mid", "slow"))):
            assert abs(sides[pair, first] - sides[pair, second]) <= 1, sides


@pytest.mark.django_db
def test_it_puts_each_cells_arms_on_each_side_equally_across_participants(team):
    study = import_yaml(BALANCE_STUDY_YAML.replace("trials_per_participant: 4", "order: latin_square"), team)
    sides = Counter()
    for _ in range(12):
        participant = actions.give_consent(actions.enroll_participant(study))
        for trial in participant.trials.filter(kind="trial").select_related("arm_a"):
            sides[trial.cell, trial.arm_a.name] += 1

    assert len(sides) == 12 and set(sides.values()) == {6}


@pytest.mark.django_db
def test_it_stores_the_seed_and_the_assignment_with_practice_first_and_the_check_placed(team):
    study = import_yaml(BALANCE_STUDY_YAML, team)
    participant = actions.give_consent(actions.enroll_participant(study))

    trials = list(participant.trials.select_related("prompt", "arm_a", "arm_b"))
    assert [trial.kind for trial in trials] == ["practice", "trial", "attention", "trial", "trial", "trial"]
    assert [trial.prompt.name for trial in trials][0::2][:2] == ["practice", "check"]
    assert participant.assignment_seed and participant.assignment["seed"] == participant.assignment_seed
    stored = participant.assignment["trials"]
    assert [(item["kind"], item["prompt"], item["arm_a"], item["arm_b"]) for item in stored] == [
        (trial.kind, trial.prompt.name, trial.arm_a.name, trial.arm_b.name) for trial in trials
    ]
    assert participant.assignment["order"] == "latin_square" and participant.assignment["ordinal"] == 0


@pytest.mark.django_db
def test_it_fills_quotas_and_releases_the_slots_of_expired_sessions(team):
    study = import_yaml(BALANCE_STUDY_YAML.replace("trials_per_participant: 4", "quota_per_cell: 1"), team)
    first = actions.give_consent(actions.enroll_participant(study))
    assert actions.study_is_full(study)
    late = actions.enroll_participant(study)
    with pytest.raises(StudyFull):
        actions.give_consent(late)
    late.refresh_from_db()
    assert late.consented_at is None and not late.trials.exists()

    Participant.objects.filter(pk=first.pk).update(last_seen_at=first.consented_at.replace(year=2000))
    assert actions.expire_sessions() == 1
    assert not actions.study_is_full(study)
    assert actions.give_consent(late).trials.filter(kind="trial").count() == 6


@pytest.mark.django_db
def test_it_expires_sessions_in_statements_of_a_bounded_number_of_ids(team, monkeypatch):
    """A statement takes at most 65,535 parameters (bound on the server): the ids go in chunks."""
    from functools import partial

    from uxlab.studies.actions import sessions
    from uxlab.studies.raw_sql import in_chunks

    monkeypatch.setattr(sessions, "in_chunks", partial(in_chunks, size=2))
    study = import_yaml(BALANCE_STUDY_YAML, team)
    running = [actions.give_consent(actions.enroll_participant(study)) for _ in range(5)]
    Participant.objects.filter(pk__in=[p.pk for p in running]).update(last_seen_at=running[0].consented_at.replace(year=2000))
    assert actions.expire_sessions() == 5
    assert set(Participant.objects.values_list("status", "outcome")) == {("expired", "timed_out")}


@pytest.mark.django_db
def test_it_orders_trials_differently_by_seeded_shuffle(team):
    study = import_yaml(BALANCE_STUDY_YAML.replace("trials_per_participant: 4", "order: shuffle"), team)
    orders = {
        tuple(actions.give_consent(actions.enroll_participant(study)).trials.filter(kind="trial").values_list("cell", flat=True))
        for _ in range(8)
    }
    assert len(orders) > 1
    random.seed(0)  # nothing here depends on the global generator


@pytest.mark.django_db
def test_the_ordinal_and_cell_counts_leave_out_previews_pilots_expired_sessions_and_the_participant(team):
    """An assignment reads its ordinal and the cells' counts in one hand-written statement: it
    counts what the ORM query it replaced counted (studies/actions/participants.py)."""
    from django.db.models import Count

    from uxlab.studies.actions.participants import ordinal_and_cell_counts
    from uxlab.studies.models import Trial

    study = import_yaml(BALANCE_STUDY_YAML, team)
    real = [actions.give_consent(actions.enroll_participant(study)) for _ in range(3)]
    for mode in ("preview", "pilot"):
        tried = actions.enroll_participant(study)
        Participant.objects.filter(pk=tried.pk).update(mode=mode)
        tried.refresh_from_db()
        actions.give_consent(tried)
    Participant.objects.filter(pk=real[0].pk).update(status=Participant.Status.EXPIRED)
    unassigned = actions.enroll_participant(study)

    expected_counts = dict(
        Trial.objects.filter(participant__study=study, kind="trial", participant__mode="")
        .exclude(participant__status=Participant.Status.EXPIRED)
        .values_list("cell")
        .annotate(count=Count("id"))
    )
    assert sum(expected_counts.values()) == 2 * 4  # two live real participants, four trials each
    assert ordinal_and_cell_counts(study, unassigned) == (3, expected_counts)
    assert ordinal_and_cell_counts(study, real[1]) == (2, expected_counts)  # not counting themself
    assert actions.live_cell_counts(study) == expected_counts
    assert [item["ordinal"] for item in (p.assignment for p in real)] == [0, 1, 2]
