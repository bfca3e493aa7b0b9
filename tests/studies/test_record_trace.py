"""Recording a live arm's responses as traces: the action, the command and the Celery task, each
against a real streaming HTTP server on 127.0.0.1; and what trace and live arms add to a trial's spec."""

import io
import json
import time

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import import_yaml
from tests.streaming.sse_server import ReplayServer, fixture_events
from uxlab.streaming.arms import schedule_for_spec
from uxlab.streaming.backends.openai_compat import BackendError
from uxlab.streaming.traces import builtin_offsets
from uxlab.studies import actions
from uxlab.studies.models import RecordedTrace

STUDY_YAML = """
version: 1
code: {code}
title: Recorded traces
consent:
  text: You agree.
arms:
  - name: reasoner
    kind: live
    base_url: {base_url}
    model: deepseek-reasoner
    api_key_env: UXLAB_KEY_TEST_BACKEND
    thinking_display: visible
  - name: reasoner_fast
    kind: trace
    recorded_arm: reasoner
    tokens_per_second: 1500
    ttft_s: 0.2
    thinking_display: visible
  - name: h200
    kind: trace
    builtin: h200_llama8b_batch8
prompts:
  - name: egg
    text: Why does an egg float in salt water?
    response: Salt water is denser than the egg.
  - name: sky
    text: Why is the sky blue?
    response: Air scatters blue light more than red light.
questions:
  - name: faster
    text: Which response felt faster?
design:
  pairs: [[reasoner_fast, h200]]
"""


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("UXLAB_KEY_TEST_BACKEND", "sk-test-not-stored")
    server = ReplayServer().start()
    server.play(fixture_events("deepseek_reasoning_content.sse"), gap_s=0.05)
    yield server
    server.stop()


def make_study(team, server, code="traces"):
    return import_yaml(STUDY_YAML.format(code=code, base_url=server.base_url), team)


@pytest.mark.django_db
def test_it_records_every_prompt_and_replaces_on_a_second_run(team, server):
    study = make_study(team, server)

    traces = actions.record_traces("traces", "reasoner")

    assert [trace.prompt.name for trace in traces] == ["egg", "sky"]
    trace = RecordedTrace.objects.get(arm__name="reasoner", prompt__name="egg")
    assert (trace.study, trace.text, trace.finish_reason) == (study, "Salt water is denser.", "stop")
    assert trace.reasoning == "Okay, eggs float when water is salty."
    assert trace.usage["completion_tokens_details"]["reasoning_tokens"] == 12
    assert trace.source == "deepseek-reasoner at 127.0.0.1"
    times = [chunk["t"] for chunk in trace.chunks]
    assert all(later - earlier >= 0.04 for earlier, later in zip(times, times[1:]))  # real arrival gaps
    request = server.requests[0]
    assert request["headers"]["authorization"] == "Bearer sk-test-not-stored"
    assert request["json"]["messages"] == [{"role": "user", "content": "Why does an egg float in salt water?"}]
    assert "sk-test-not-stored" not in str(list(RecordedTrace.objects.values()))

    actions.record_traces("traces", "reasoner", "egg")

    assert RecordedTrace.objects.count() == 2
    assert RecordedTrace.objects.get(prompt__name="egg").recorded_at > trace.recorded_at


@pytest.mark.django_db
def test_it_gives_a_trace_arm_the_recorded_response_retimed(team, server):
    study = make_study(team, server)
    actions.record_traces("traces", "reasoner", "egg")
    egg = study.prompts.get(name="egg")

    spec = {
        "kind": "trace",
        "profile": study.arms.get(name="reasoner_fast").profile,
        "seed": "x",
        **actions.arm_stimulus(study.arms.get(name="reasoner_fast"), egg),
    }
    tokens = schedule_for_spec(spec)

    assert spec["content"] == "Salt water is denser."  # the recording's text, not the prompt's response
    assert "".join(t.text for t in tokens if t.phase == "answer") == "Salt water is denser."
    assert "".join(t.text for t in tokens if t.phase == "thinking") == "Okay, eggs float when water is salty."
    assert tokens[0].due_s == 0.2


@pytest.mark.django_db
def test_it_gives_builtin_and_live_arms_what_they_stream(team, server):
    study = make_study(team, server)
    sky = study.prompts.get(name="sky")

    assert actions.arm_stimulus(study.arms.get(name="h200"), sky) == {"trace": {"offsets": list(builtin_offsets("h200_llama8b_batch8"))}}
    assert actions.arm_stimulus(study.arms.get(name="reasoner"), sky) == {"prompt": "Why is the sky blue?"}
    with pytest.raises(actions.TrialUnavailable) as caught:
        actions.arm_stimulus(study.arms.get(name="reasoner_fast"), sky)  # not recorded yet
    assert caught.value.code == "stimulus_not_ready"


@pytest.mark.django_db
def test_it_refuses_what_cannot_be_recorded(team, server):
    make_study(team, server)

    for args, code in [
        (("nope", "reasoner"), "unknown_study"),
        (("traces", "nope"), "unknown_arm"),
        (("traces", "h200"), "not_live"),
        (("traces", "reasoner", "nope"), "unknown_prompt"),
    ]:
        with pytest.raises(actions.RecordingRefused) as caught:
            actions.record_traces(*args)
        assert caught.value.code == code
    assert not RecordedTrace.objects.exists()


@pytest.mark.django_db
def test_it_stores_nothing_for_a_failing_backend(team, server):
    make_study(team, server)
    server.play(fixture_events("broken_length_empty_answer.sse"))

    with pytest.raises(BackendError) as caught:
        actions.record_traces("traces", "reasoner", "egg")

    assert caught.value.code == "empty_answer"
    assert not RecordedTrace.objects.exists()


@pytest.mark.django_db
def test_it_records_through_the_command(team, server):
    make_study(team, server)
    out = io.StringIO()

    call_command("record_trace", "traces", "reasoner", "--prompt", "sky", stdout=out)

    assert out.getvalue().startswith("sky: 5 chunks, 21 characters, first answer text at 0.")
    assert RecordedTrace.objects.get().prompt.name == "sky"
    with pytest.raises(CommandError, match="only live arms can be recorded"):
        call_command("record_trace", "traces", "h200")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_records_through_a_real_celery_worker(server, stack, team):
    from uxlab.studies.tasks import record_trace

    # The worker process reads the key from its own environment, set before it started.
    import_yaml(STUDY_YAML.format(code="traces-worker", base_url=server.base_url).replace(
        "api_key_env: UXLAB_KEY_TEST_BACKEND", "api_key_env: ''"), team)  # fmt: skip

    record_trace.delay("traces-worker", "reasoner", "egg")

    deadline = time.monotonic() + 30
    while not RecordedTrace.objects.exists():
        assert time.monotonic() < deadline, stack.worker.log_text()[-3000:]
        time.sleep(0.2)
    trace = RecordedTrace.objects.get()
    assert (trace.arm.name, trace.prompt.name, trace.text) == ("reasoner", "egg", "Salt water is denser.")
    assert len(server.requests) == 1


def cut_answer_events():
    def chunk(delta, **extra):
        return 'data: {"id": "c", "choices": [{"index": 0, "delta": %s%s}]}\n\n' % (
            json.dumps(delta), "".join(f', "{k}": "{v}"' for k, v in extra.items()))

    return [chunk({"content": "Salt water is"}), chunk({"content": " denser and"}),
            chunk({}, finish_reason="length"), "data: [DONE]\n\n"]


@pytest.mark.django_db
def test_it_warns_when_a_recorded_live_answer_was_cut_at_max_tokens_and_records_the_concurrency(team, server):
    make_study(team, server)
    server.play(cut_answer_events(), gap_s=0.01)
    out, err = io.StringIO(), io.StringIO()

    call_command("record_trace", "traces", "reasoner", "--concurrency", "2", stdout=out, stderr=err)

    assert err.getvalue().count("cut at max_tokens (finish_reason: length)") == 2
    assert "concurrency 2" in out.getvalue()
    assert set(RecordedTrace.objects.values_list("finish_reason", "concurrency")) == {("length", 2)}
    assert actions.cut_off(RecordedTrace.objects.first())


@pytest.mark.django_db
def test_it_records_a_live_arm_one_prompt_at_a_time_by_default_without_warning(team, server):
    make_study(team, server)
    err = io.StringIO()
    call_command("record_trace", "traces", "reasoner", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == "" and set(RecordedTrace.objects.values_list("concurrency", flat=True)) == {1}
