"""Blinding, byte for byte: nothing the browser receives during a whole session names an arm.

Every HTTP response (URL, headers and body: HTML, JS, CSS, JSON) and every websocket frame the
browser receives is captured while a participant completes the demo study, then searched for each
arm's name, label and source, the model and provider names they mention, the profile's parameter
names, and its distinctive parameter values.
"""

import json
import re
from pathlib import Path

import pytest

from tests.browser.participant_flow import complete_session
from uxlab.studies.models import Study
from uxlab.studies.study_files import PROFILE_FIELDS, import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"
MODELS_AND_PROVIDERS = [
    "Cerebras", "Llama", "DeepSeek", "OCI", "GPU", "Wafer", "wafer", "Groq", "SambaNova", "Fireworks",
    "Azure", "NVIDIA", "H200", "vLLM", "OpenAI", "70B", "8B", "LRMTokenEconomy",
]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_study(monkeypatch, team):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study = import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)
    Study.objects.filter(pk=study.pk).update(completion_url="http://127.0.0.1:9/finished")
    return study


def forbidden_terms(study):
    """(term, where it may not appear) for every secret of the study's arms."""
    words, numbers = set(MODELS_AND_PROVIDERS), set()
    for arm in study.arms.all():
        words |= {arm.name, arm.label, arm.source, arm.kind}
        for value in arm.profile.values():
            # Small values (0, 1, 0.1 ...) and everyday words (hidden, none) occur everywhere;
            # the distinctive ones must not.
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 10:
                numbers.add(f"{value:g}")
            elif isinstance(value, str) and value not in {"hidden", "visible", "none", "normal"}:
                words.add(value)
    words |= set(PROFILE_FIELDS)
    return sorted(term for term in words if term), sorted(numbers)


def test_it_sends_the_browser_nothing_that_names_an_arm(demo_study, stack, browser):
    captured = []  # (where, text)
    frames = []
    page = browser.new_page()

    def on_response(response):
        captured.append((f"url {response.url}", response.url))
        captured.append((f"headers of {response.url}", json.dumps(response.all_headers())))
        try:
            captured.append((f"body of {response.url}", response.body().decode("utf-8", "replace")))
        except Exception:  # redirects have no body
            pass

    page.on("response", on_response)
    page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(payload)))

    complete_session(page, stack.url, demo_study.code, query="?PROLIFIC_PID=blind-1", attention_keys={"faster": "3"})

    bodies = [text for where, text in captured if where.startswith("body of")]
    assert any("<html" in body for body in bodies) and any("AnswerForm" in body for body in bodies)
    assert any(".pane" in body for body in bodies)  # the stylesheet
    assert any('"stream.delta"' in frame or '"type":"stream' in frame for frame in frames)
    words, numbers = forbidden_terms(demo_study)
    frame_text = [(f"websocket frame {index}", str(frame)) for index, frame in enumerate(frames)]
    leaks = []
    for where, text in captured + frame_text:
        leaks += [(term, where) for term in words if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text)]
        if not where.startswith("websocket"):
            # Frames carry times in ms, where any number can occur by chance; pages must not.
            leaks += [(value, where) for value in numbers if re.search(rf"(?<![\d.]){re.escape(value)}(?![\d])", text)]
    assert leaks == []


ADAPTIVE_STUDY = """
version: 1
code: blindadapt
title: Adaptive blinding
consent:
  text: You agree.
arms:
  - name: anchor_arm
    label: Secret anchor label
    source: a secret source
    ttft_s: 0.1
    tokens_per_second: 73
prompts:
  - name: p0
    text: Prompt zero.
    response: A short answer of a few words.
questions:
  - name: faster
    kind: forced_choice
    text: Which answer appeared faster?
practice:
  text: Practice prompt.
  response: A practice answer.
design:
  adaptive:
    reference: anchor_arm
    dimension: tokens_per_second
    question: faster
    procedure: quest_plus
    tracks:
      - name: slowside
        range: [19, 73]
    catch_trials: 0.3
    max_trials: 3
"""


def test_it_sends_the_browser_nothing_that_names_an_adaptive_procedure_or_its_stimuli(team, stack, browser, monkeypatch):
    from uxlab.studies.models import AdaptiveStep

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study = import_study(parse_study_yaml(ADAPTIVE_STUDY), team=team, status=Study.Status.LIVE)
    captured, frames = [], []
    page = browser.new_page()

    def on_response(response):
        captured.append(response.url)
        # The clock's headers (Date, Expires, Last-Modified) and a cookie's expiry carry any number;
        # the rest are scanned.
        clock = {"date", "expires", "last-modified"}
        headers = {name: value for name, value in response.all_headers().items() if name not in clock}
        if "set-cookie" in headers:
            headers["set-cookie"] = re.sub(r"(?i)expires=[^;]*;", "", headers["set-cookie"])
        captured.append(json.dumps(headers))
        try:
            captured.append(response.body().decode("utf-8", "replace"))
        except Exception:  # redirects have no body
            pass

    page.on("response", on_response)
    page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))))
    complete_session(page, stack.url, study.code, query="?PROLIFIC_PID=blind-2")

    steps = list(AdaptiveStep.objects.filter(run__participant__study=study))
    assert len(steps) == 3 and all(step.answered_at for step in steps)
    assert any('"type":"stream' in frame or '"stream.delta"' in frame for frame in frames)
    words = ["anchor_arm", "Secret anchor label", "a secret source", "slowside", "tokens_per_second", "quest_plus",
             "staircase", "adaptive", "dimension", "reference_value", "test_pane"]
    leaks = [(word, text[:80]) for text in captured + frames for word in words
             if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)]
    # Pages must not carry a stimulus value either (frames carry due times, where any number can occur).
    values = {f"{step.value:g}" for step in steps} | {f"{step.value:.1f}" for step in steps} | {"73"}
    # (Bounded by non-word characters: asset file names carry hex hashes, where digits occur by chance.)
    leaks += [(value, re.search(rf".{{0,40}}(?<![\w.]){re.escape(value)}(?!\w).{{0,40}}", text)[0])
              for text in captured for value in values
              if re.search(rf"(?<![\w.]){re.escape(value)}(?!\w)", text)]
    assert leaks == []
