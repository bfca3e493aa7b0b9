"""The results page: one summary per question kind, each honest state of a psychometric fit with its
own message (and no curve without a fit), exclusion rules and analysis options, inline SVG (no CDN)."""

import csv
import io
import json
import math
import random
import re

import pytest
from django.urls import reverse

from tests.conftest import import_yaml
from tests.web.conftest import answer, run_participant
from uxlab.analysis import psychometric
from uxlab.analysis.clustered import N_BOOT
from uxlab.analysis.results import study_results
from uxlab.analysis.simulation import PaneTiming, ResponseModel, draw_participant
from uxlab.analysis.simulation import answer as simulated_answer
from uxlab.studies import actions
from uxlab.studies.models import Trial

pytestmark = pytest.mark.django_db

BASE_SPEED = 20.0


def ladder_yaml(ratios, ttfts=None, questions=None, prompts=2):
    """A study whose arms stream at BASE_SPEED × each ratio (equal TTFT unless given), each paired with
    the base arm."""
    ttfts = ttfts or [0.3] * (len(ratios) + 1)
    arms = "\n".join(
        f"  - name: arm{i}\n    ttft_s: {ttfts[i]}\n    tokens_per_second: {BASE_SPEED * ratio:g}"
        for i, ratio in enumerate([1.0, *ratios])
    )
    pairs = ", ".join(f"[arm0, arm{i}]" for i in range(1, len(ratios) + 1))
    prompt_text = "\n".join(f"  - name: p{i}\n    text: Prompt {i}.\n    response: Short answer {i}." for i in range(prompts))
    questions = questions or "  - name: faster\n    kind: forced_choice_tie\n    text: Which response felt faster?"
    return f"""
version: 1
code: ladder
title: Ladder
consent:
  version: "1"
  text: You agree.
arms:
{arms}
prompts:
{prompt_text}
questions:
{questions}
design:
  pairs: [{pairs}]
  seed: ladder
"""


ALL_KINDS = """  - name: faster
    kind: forced_choice_tie
    text: Which response felt faster?
  - name: wait_ok
    kind: likert
    scale: 5
    text: How acceptable was the wait?
  - name: overall
    kind: likert
    per_pane: false
    scale: 7
    text: How good was this exchange overall?
  - name: smooth
    kind: slider
    min: 0
    max: 100
    text: How smooth was the text?
  - name: wait
    kind: wait_estimate
    text: How long did you wait?
  - name: comment
    kind: free_text
    text: Anything else?"""


def timing_of(trial):
    a, b = trial.arm_a.profile, trial.arm_b.profile
    return PaneTiming(a["tokens_per_second"], b["tokens_per_second"], a["ttft_s"], b["ttft_s"])


def simulate(study, participants, model=ResponseModel(), seed=1, fixed=None):
    """Participants who answer every question of every trial as the response model says (or, with
    `fixed`, the choice question with fixed(trial))."""
    rng = random.Random(seed)
    questions = list(study.questions.all())
    for _ in range(participants):
        participant = actions.give_consent(actions.enroll_participant(study))
        person = draw_participant(model, rng, participant.trials.count())
        for trial in participant.trials.select_related("arm_a", "arm_b").order_by("index"):
            Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.FINISHED)
            for question in questions:
                if fixed is not None and question.kind.startswith("forced_choice"):
                    value = fixed(trial)
                else:
                    value = simulated_answer(model, rng, person, question.kind, question.resolved_options,
                                             timing_of(trial), pane=question.pane or None)
                answer(trial, question, question.clean_value(value))
    return study


def page(client, alice, study, **params):
    client.force_login(alice)
    return client.get(reverse("web:results", args=[study.code]), params).content.decode()


def section(html, name):
    match = re.search(rf'<section class="card" data-question="{name}".*?</section>', html, re.S)
    assert match, f"no section for {name}"
    return match.group(0)


def faster_of(trial):
    return "A" if trial.arm_a.profile["tokens_per_second"] > trial.arm_b.profile["tokens_per_second"] else "B"


# --- One summary per question kind ---------------------------------------------------------------


def test_it_summarises_every_question_kind_on_the_page(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0], questions=ALL_KINDS), team), 12)
    html = page(client, alice, study)
    kinds = re.findall(r'data-summary="([a-z_]+)"', html)
    assert kinds == ["choice", "likert", "likert", "slider", "wait_estimate", "free_text"]
    summary = study_results(study)
    by_name = {q["question"]: q for q in summary["questions"]}
    # Likert per pane: a row per arm; overall (no pane): a row per pair; both with an overall mean.
    assert [row["label"] for row in by_name["wait_ok"]["rows"]] == ["arm0", "arm1", "arm2", "arm3", "arm4"]
    assert by_name["wait_ok"]["per_pane"] and not by_name["overall"]["per_pane"]
    assert [row["label"] for row in by_name["overall"]["rows"]] == ["arm0|arm1", "arm0|arm2", "arm0|arm3", "arm0|arm4"]
    assert by_name["overall"]["overall"]["n"] == 12 * 8 and by_name["overall"]["overall"]["ci_low"] is not None
    assert f'{by_name["overall"]["overall"]["mean"]:.2f}' in section(html, "overall")
    # Slider: mean with a clustered interval and quartiles; free text: counts and a download link.
    assert by_name["smooth"]["overall"]["q1"] <= by_name["smooth"]["overall"]["median"] <= by_name["smooth"]["overall"]["q3"]
    free = section(html, "comment")
    assert f'{by_name["comment"]["n"]} answers from 12 participants' in free
    assert reverse("web:download_free_text", args=[study.code, "comment"]) in free
    # The waiting-time estimate per arm, as ratio estimated/actual.
    assert [row["label"] for row in by_name["wait"]["rows"]] == ["arm0", "arm1", "arm2", "arm3", "arm4"]
    # The faster arm of each pair is preferred: the pair table says so with Holm-adjusted p-values.
    pairs = by_name["faster"]["pairs"]
    assert all(row["difference"]["mean"] < 0 for row in pairs)  # arm0 (first) is always the slower
    assert all(row["p_holm"] >= row["p_value"] for row in pairs)


def test_it_summarises_a_forced_choice_without_ties_and_says_so(client, team, alice):
    questions = "  - name: pick\n    kind: forced_choice\n    text: Which was faster?"
    study = simulate(import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0], questions=questions), team), 8)
    html = section(page(client, alice, study), "pick")
    assert "No difference" not in html and "P(first) − P(second)" in html


def test_it_downloads_every_free_text_answer(client, team, alice):
    questions = ALL_KINDS.split("  - name: wait_ok")[0] + "  - name: comment\n    kind: free_text\n    text: Anything else?"
    study = simulate(import_yaml(ladder_yaml([2.0], questions=questions), team), 3)
    client.force_login(alice)
    response = client.get(reverse("web:download_free_text", args=[study.code, "comment"]))
    lines = b"".join(response).decode().splitlines()
    assert lines[0] == "participant,trial_index,arm_a,arm_b,text,excluded,exclusion_reasons" and len(lines) == 1 + 3 * 2
    assert client.get(reverse("web:download_free_text", args=[study.code, "faster"])).status_code == 404


def test_the_free_text_download_flags_excluded_answers_and_agrees_with_the_page(client, team, alice):
    questions = ALL_KINDS.split("  - name: wait_ok")[0] + "  - name: comment\n    kind: free_text\n    text: Anything else?"
    study = simulate(import_yaml(ladder_yaml([2.0], questions=questions), team), 3)
    interrupted = Trial.objects.filter(participant__study=study).order_by("pk").first()
    Trial.objects.filter(pk=interrupted.pk).update(status=Trial.Status.INTERRUPTED)
    client.force_login(alice)
    html = page(client, alice, study)
    rows = list(csv.DictReader(io.StringIO(b"".join(
        client.get(reverse("web:download_free_text", args=[study.code, "comment"]))).decode())))
    assert len(rows) == 6
    flagged = [row for row in rows if row["excluded"] == "true"]
    assert len(flagged) == 1 and flagged[0]["exclusion_reasons"] == "interrupted"
    assert flagged[0]["participant"] == str(interrupted.participant_id)
    kept = study_results(study)["questions"]
    free_text = next(q for q in kept if q["question"] == "comment")
    assert free_text["n"] == 5 and "5 answers from 3 participants" in section(html, "comment")
    lifted = b"".join(client.get(reverse("web:download_free_text", args=[study.code, "comment"]),
                                 {"rules": "set"})).decode()
    assert "true" not in lifted.split("\n", 1)[1]


def test_it_compares_estimated_with_actual_waiting_time_per_arm(client, study, alice):
    from uxlab.studies.models import Question

    estimate = Question.objects.create(study=study, name="wait_A", kind="wait_estimate", pane="A", text="How long did A take?", position=9)
    participant = run_participant(study, ["A"])
    trial = participant.trials.select_related("arm_a").get()
    trial.fidelity = {"panes": {"A": {"observed": {"ttft_answer_s": 2.0}}}}
    trial.save(update_fields=["fidelity"])
    answer(trial, estimate, "3.0")
    waiting = next(q for q in study_results(study)["questions"] if q["summary"] == "wait_estimate")
    assert waiting["question"] == "wait"
    assert waiting["rows"] == [
        {"label": trial.arm_a.name, "n": 1, "n_participants": 1, "mean_estimated_s": 3.0, "mean_actual_s": 2.0,
         "ratio": 1.5, "ratio_ci_low": None, "ratio_ci_high": None}
    ]
    html = page(client, alice, study)
    assert "How long did A take?" in html and "1.50" in html


# --- Honest states of the psychometric fit --------------------------------------------------------


def speed_fit(html):
    block = section(html, "faster").split("<h3>Preference against speed</h3>")[1].split("<h3>")[0]
    status = re.search(r'data-fit-status="([a-z_]+)"', block).group(1)
    return status, block


def test_it_fits_a_curve_and_reports_the_threshold_as_log_and_ratio(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.3, 1.6, 2.2, 4.0, 8.0]), team), 12)
    status, block = speed_fit(page(client, alice, study))
    assert status == "ok" and 'class="curve"' in block
    fit = study_results(study)["questions"][0]["psychometric_speed"]
    threshold = fit["threshold_75"]
    assert threshold["ratio"] == pytest.approx(math.exp(threshold["log"]))
    assert f'75% threshold: {threshold["ratio"]:.2f}×' in block
    assert "must be" in block and "faster to be picked 75% of the time" in block
    assert fit["fit"]["lapse_ci"] is not None and fit["fit"]["n_boot"] == N_BOOT


def test_it_reports_a_chosen_threshold_level_beside_75_percent(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.3, 1.6, 2.2, 4.0, 8.0]), team), 12)
    _status, block = speed_fit(page(client, alice, study, level="0.9"))
    fit = study_results(study, options=__import__("uxlab.analysis.summaries", fromlist=["x"]).AnalysisOptions(level=0.9))
    threshold = fit["questions"][0]["psychometric_speed"]["threshold"]
    assert threshold["level"] == 0.9 and f'At 0.90: {threshold["ratio"]:.2f}×' in block


def test_it_says_when_there_are_too_few_participants_and_draws_no_curve(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.3, 1.6, 2.2, 4.0]), team), 3)
    status, block = speed_fit(page(client, alice, study))
    assert status == "too_few_participants"
    assert "Too few participants (3; at least 5" in block and 'class="curve"' not in block
    assert 'class="point"' in block  # the data are still shown


def test_it_says_when_there_are_too_few_ratios(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.5]), team), 6)
    status, block = speed_fit(page(client, alice, study))
    assert status == "too_few_ratios"
    assert "Too few distinct ratios (1; the model needs at least 2)" in block and 'class="curve"' not in block


def test_it_says_when_the_data_are_separated(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.5, 2.0, 3.0]), team), 6, fixed=faster_of)
    status, block = speed_fit(page(client, alice, study))
    assert status == "separation"
    assert "The data are separated" in block and "1.5×" in block and 'class="curve"' not in block


def test_it_says_when_the_faster_arm_is_not_preferred(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.5, 2.0, 3.0]), team), 6,
                     fixed=lambda trial: "B" if faster_of(trial) == "A" else "A")
    status, block = speed_fit(page(client, alice, study))
    # Always choosing the slower arm is separation in the other direction or a negative slope: never a curve.
    assert status in ("no_positive_slope", "separation") and 'class="curve"' not in block


def test_it_says_when_the_fit_did_not_converge(client, team, alice, monkeypatch):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.5, 2.2, 4.0]), team), 6)
    real_fit = psychometric.fit_lapse_model

    def fit_that_stops_early(*args, **kwargs):
        fit = real_fit(*args, **kwargs)
        fit.converged = False  # what an optimiser that ran out of iterations reports
        return fit

    monkeypatch.setattr(psychometric, "fit_lapse_model", fit_that_stops_early)
    status, block = speed_fit(page(client, alice, study))
    assert status == "not_converged"
    assert "did not converge; no curve is drawn" in block and 'class="curve"' not in block


def test_it_says_when_speed_and_ttft_change_together(client, study, alice):
    for values in (["A"], ["A"], ["B"], ["tie"], ["A"]):
        run_participant(study, values)
    status, block = speed_fit(page(client, alice, study))
    assert status == "confounded" and "cannot be told apart" in block


def test_it_fits_speed_and_ttft_jointly_when_both_vary(client, team, alice):
    # Two speed-only pairs, two TTFT-only pairs and one pair that differs in both.
    yaml = ladder_yaml([1.0, 1.0, 1.6, 3.0, 2.0], ttfts=[0.5, 1.0, 3.0, 0.5, 0.5, 1.5])
    study = simulate(import_yaml(yaml, team), 10)
    fits = study_results(study)["questions"][0]
    assert fits["psychometric_speed"]["model"] == fits["psychometric_ttft"]["model"] == "joint speed and TTFT"
    assert fits["psychometric_speed"]["status"] == "ok" and fits["psychometric_ttft"]["status"] == "ok"


# --- Options, exclusions, and the same numbers everywhere -----------------------------------------


def test_it_states_the_tie_default_and_offers_davidson(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.5, 2.2, 4.0]), team), 6,
                     model=ResponseModel(tie_tendency=0.5))
    default = page(client, alice, study)
    assert "a “no difference” answer counts as half a choice each way (the default)" in default
    assert "A “no difference” answer counts as half a win each way." in default
    davidson = page(client, alice, study, ties="davidson")
    assert "Davidson’s model" in davidson and "tie parameter ν" in davidson
    # The option does not reach the pair table or position bias, and the page says so.
    dropped = page(client, alice, study, ties="drop")
    for html in (default, davidson, dropped):
        assert "applies to Bradley–Terry and the psychometric fits only" in html
    pairs_of = [re.search(r"<h3>Pairs</h3>.*?</p>\s*<p>Position bias.*?</p>", section(html, "faster"), re.S).group(0)
                for html in (default, davidson, dropped)]
    assert pairs_of[0] == pairs_of[1] == pairs_of[2]


def test_it_fits_the_displayed_speeds_when_asked(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.5, 2.2, 4.0]), team), 6)
    for trial in Trial.objects.filter(participant__study=study).select_related("arm_a", "arm_b"):
        # Every browser showed pane B at half its declared speed.
        trial.fidelity = {"panes": {"B": {"observed": {"tokens_per_second": trial.arm_b.profile["tokens_per_second"] / 2}}}}
        trial.save(update_fields=["fidelity"])
    from uxlab.analysis.summaries import AnalysisOptions

    declared = study_results(study)["questions"][0]["psychometric_speed"]
    displayed = study_results(study, options=AnalysisOptions(speeds="displayed"))["questions"][0]["psychometric_speed"]
    assert declared["stimulus"] == "declared" and displayed["stimulus"] == "displayed"
    assert [round(b["stimulus"], 6) for b in displayed["bins"]] != [round(b["stimulus"], 6) for b in declared["bins"]]
    assert "as displayed" in page(client, alice, study, speeds="displayed")


def test_it_shows_the_effect_of_toggling_an_exclusion_rule(client, study, alice):
    first = run_participant(study, ["A"])
    run_participant(study, ["B"])
    Trial.objects.filter(participant=first).update(status=Trial.Status.INTERRUPTED)
    applied = page(client, alice, study)
    assert "1 of 2 trials excluded; 1 answers analysed" in applied
    lifted = page(client, alice, study, rules="set", rule=["practice"])
    assert "0 of 2 trials excluded; 2 answers analysed" in lifted


def test_it_gives_the_page_the_api_and_the_download_the_same_summary(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.5, 2.2, 4.0]), team), 6)
    from uxlab.studies.api_tokens import create_api_token

    _token, secret = create_api_token(alice, "tests")
    api = client.get(reverse("web:api_results", args=[study.code]), HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    client.force_login(alice)
    download = json.loads(b"".join(client.get(reverse("web:download_summary", args=[study.code]))))
    assert api == download == {**study_results(study), "adaptive": None}  # a fixed design
    assert api["options"]["n_boot"] == N_BOOT


def test_it_draws_plots_inline_without_a_cdn(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.15, 1.5, 2.2, 4.0], questions=ALL_KINDS), team), 6)
    html = page(client, alice, study)
    assert html.count("<svg") >= 4  # speed fit, Bradley-Terry strengths and differences, Likert
    assert not re.search(r"<script[^>]+src=\"https?://", html) and "cdn" not in html.lower()


def ttft_fit(html):
    block = section(html, "faster").split("<h3>Preference against time to first token</h3>")[1].split("<h3>")[0]
    return re.search(r'data-fit-status="([a-z_]+)"', block).group(1), block


def test_the_ttft_threshold_sentence_names_the_earlier_arm_as_the_one_picked(client, team, alice):
    """TTFT ladder at equal speed: the arm that starts first is the one picked more often."""
    yaml = ladder_yaml([1.0, 1.0, 1.0, 1.0, 1.0], ttfts=[0.3, 0.36, 0.45, 0.6, 0.9, 1.8])
    study = simulate(import_yaml(yaml, team), 10, model=ResponseModel(ttft_threshold_ratio=1.5, lapse=0.02))
    status, block = ttft_fit(page(client, alice, study))
    assert status == "ok"
    ratio = study_results(study)["questions"][0]["psychometric_ttft"]["threshold_75"]["ratio"]
    sentence = re.search(r"<span data-threshold-sentence>(.*?)</span>", block, re.S).group(1)
    assert sentence == (f"The later arm’s TTFT must be {ratio:.2f}× longer than the earlier arm’s for the earlier arm "
                        "to be picked 75% of the time by an attentive participant.")


def test_bradley_terry_says_it_has_too_few_participants_for_intervals(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.5, 3.0]), team), 3, fixed=faster_of)
    block = section(page(client, alice, study), "faster").split("<h3>Bradley–Terry strengths</h3>")[1]
    assert 'data-bt-status="too_few_participants"' in block
    assert "Too few participants for intervals (3; at least 5" in block
    assert "(no interval)" in block and " *</td>" not in block


def test_it_counts_participants_who_did_not_complete_and_can_exclude_them(client, study, alice):
    """A drop-out (consented, never completed) and a timed-out participant are kept by default, with
    their trials counted beside the rule; switching the rule on leaves them out."""
    from uxlab.studies.models import Participant

    done = run_participant(study, ["A"])
    timed_out = run_participant(study, ["B"])
    Participant.objects.filter(pk__in=[done.pk, timed_out.pk]).update(status=Participant.Status.COMPLETED,
                                                                    outcome=Participant.Outcome.COMPLETED)
    Participant.objects.filter(pk=timed_out.pk).update(outcome=Participant.Outcome.TIMED_OUT)
    dropout = run_participant(study, ["tie"])
    Participant.objects.filter(pk=dropout.pk).update(status=Participant.Status.CONSENTED, completed_at=None)
    per_participant = Trial.objects.filter(participant=done).count()
    default = page(client, alice, study)
    label = re.search(r'value="did_not_complete">(.*?)</label>', default, re.S)
    assert label and "off by default" in label.group(1) and f"({2 * per_participant} trials)" in label.group(1)
    assert f"0 of {3 * per_participant} trials excluded" in default
    assert "2 participants with answers did not complete the study" in default
    assert "their answers are kept — the “did not complete” rule is off by default" in default
    rules = ["failed_attention_check", "hidden_tab", "low_fidelity", "interrupted", "practice",
             "attention_check_trial", "did_not_complete"]
    applied = page(client, alice, study, rules="set", rule=rules)
    assert f"{2 * per_participant} of {3 * per_participant} trials excluded" in applied
    assert "their answers are excluded by the “did not complete” rule" in applied
    summary = study_results(study, rules=rules)
    assert summary["exclusions"]["excluded"] == 2 * per_participant


def test_the_slider_section_shows_each_pair_and_the_overall_mean_with_quartiles(client, team, alice):
    study = simulate(import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0], questions=ALL_KINDS), team), 6)
    block = section(page(client, alice, study), "smooth")
    smooth = next(q for q in study_results(study)["questions"] if q["question"] == "smooth")
    # The scale as written in the study file (not "0.0–100.0"); this slider has no pane: per pair.
    assert "slider 0–100</small>" in block and "<th>Pair</th>" in block
    from django.template.defaultfilters import floatformat

    def one(value):  # the page's rounding (half up), not Python's
        return floatformat(value, 1)

    assert len(smooth["rows"]) == 4
    for row in smooth["rows"]:
        cells = (f'<td><code>{row["label"]}</code></td><td class="num">{row["n"]}</td>'
                 f'<td class="num">{one(row["mean"])} [{one(row["ci_low"])}, {one(row["ci_high"])}]</td>'
                 f'<td class="num">{one(row["median"])} [{one(row["q1"])}, {one(row["q3"])}]</td>')
        assert cells in block
    overall = smooth["overall"]
    assert f'data-overall-mean>{one(overall["mean"])} [{one(overall["ci_low"])}, {one(overall["ci_high"])}]' in block


def test_a_study_without_answers_says_so_in_every_section(client, team, alice):
    study = import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0], questions=ALL_KINDS), team)
    html = page(client, alice, study)
    choice = section(html, "faster")
    assert 'data-fit-status="no_answers"' in choice and "No answers between arms" in choice
    assert 'class="curve"' not in choice and "<h3>Bradley–Terry strengths</h3>" in choice
    assert "No answers yet." in choice.split("<h3>Bradley–Terry strengths</h3>")[1]
    for name in ("wait_ok", "overall", "smooth", "wait", "comment"):
        assert "No answers yet." in section(html, name), name
    assert "0 of 0 trials excluded; 0 answers analysed" in html


def test_failed_bootstrap_resamples_are_shown_when_there_are_any():
    from django.template.loader import render_to_string

    fit = {"status": "ok", "model": "speed only", "n": 80, "n_participants": 8, "informed_by": ["a|b"],
           "threshold_75": {"ratio": 1.5, "log": 0.405, "ci_log": [0.3, 0.5], "ci_ratio": [1.35, 1.65], "level": 0.75},
           "threshold": {"level": 0.75},
           "fit": {"slope": 2.7, "slope_ci": [2, 3], "lapse": 0.05, "lapse_ci": [0, 0.1], "bias": 0.1,
                   "bias_ci": [0, 0.2], "tie_parameter": None, "n_boot": 1000, "n_boot_failed": 0}}
    context = {"noun": "The faster arm", "adjective": "faster"}
    assert "data-boot-failed" not in render_to_string("results/_fit.html", {"fit": fit, **context})
    fit["fit"]["n_boot_failed"] = 12
    html = render_to_string("results/_fit.html", {"fit": fit, **context})
    assert "12 of 1000 bootstrap resamples could not be fitted" in html


def test_a_preference_question_reports_preference_thresholds_and_counts_both_bad_as_neither(client, team, alice):
    questions = "  - name: liked\n    kind: preference\n    text: Which response did you prefer?"
    from uxlab.studies.models import Rating

    study = simulate(import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0], questions=questions), team), 6)
    Rating.objects.filter(participant__study=study, trial__index__in=[0, 3, 6]).update(value="both_bad")
    block = section(page(client, alice, study), "liked")
    assert 'data-threshold-kind="preference"' in block and "<em>preference</em> thresholds" in block
    liked = study_results(study)["questions"][0]
    both_bad = liked["values"]["both_bad"]
    assert both_bad > 0
    # Bradley–Terry keeps "both bad" as half a win each way: the same fit as with "tie" in its place.
    from uxlab.analysis import pairs as pair_stats
    from uxlab.analysis.stats import Choice

    answers = [Choice(r.participant_id, r.trial.arm_a.name, r.trial.arm_b.name, "tie" if r.value == "both_bad" else r.value)
               for r in Rating.objects.filter(participant__study=study).select_related("trial__arm_a", "trial__arm_b")]
    as_tie = pair_stats.bradley_terry(answers, ["arm0", "arm1", "arm2", "arm3", "arm4"])
    assert [r["log_strength"] for r in liked["bradley_terry"]["arms"]] == pytest.approx(
        [r["log_strength"] for r in as_tie["arms"]])
    forced = simulate(import_yaml(ladder_yaml([1.2, 1.5, 2.0, 4.0]).replace("code: ladder", "code: ladder2"), team), 6)
    assert 'data-threshold-kind="detection"' in section(page(client, alice, forced), "faster")
