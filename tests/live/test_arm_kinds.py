"""A new arm kind is one class: register a toy kind and run a trial with it through the consumer."""

from typing import Annotated

import pytest
from channels.testing import WebsocketCommunicator
from pydantic import Field

from tests.conftest import import_yaml
from uxlab.asgi import application
from uxlab.streaming import kinds
from uxlab.streaming.kinds.fields import Number
from uxlab.streaming.schedule import ANSWER, Token
from uxlab.streaming.tokens import split_tokens
from uxlab.studies import actions
from uxlab.studies.models import Trial
from uxlab.studies.study_files import StudyFileError, export_study, parse_study_yaml

pytestmark = pytest.mark.django_db(transaction=True)

RESPONSE = "Steady words arrive at one even pace, neither rushing nor pausing along the way."


class ConstantRateKind(kinds.ArmKind):
    """Every answer token at an even pace from ``start_s``: no jitter, no stalls, no thinking."""

    name = "constant_rate"

    class Settings(kinds.ArmSettings):
        tokens_per_second: Annotated[Number, Field(gt=0)]
        start_s: Annotated[Number, Field(ge=0)] = 0.0

    def schedule(self, spec):
        profile = spec["profile"]
        step = 1 / profile["tokens_per_second"]
        return [Token(profile["start_s"] + index * step, text, ANSWER) for index, text in enumerate(split_tokens(spec["content"]))]


STUDY_YAML = f"""
version: 1
code: steady
title: A toy arm kind
consent: {{text: You agree.}}
arms:
  - {{name: steady, kind: constant_rate, tokens_per_second: 40, start_s: 0.1}}
  - {{name: quick, ttft_s: 0.05, tokens_per_second: 400}}
prompts:
  - {{name: p, text: "Say something steady.", response: "{RESPONSE}"}}
questions:
  - {{name: faster, text: "Which felt faster?"}}
design:
  pairs: [[steady, quick]]
"""


@pytest.fixture
def constant_rate():
    kind = kinds.register(ConstantRateKind())
    yield kind
    kinds.unregister(kind.name)


@pytest.fixture
def steady_participant(constant_rate, team):
    study = import_yaml(STUDY_YAML, team)
    return actions.give_consent(actions.enroll_participant(study))


@pytest.mark.asyncio
async def test_it_streams_a_registered_toy_kind_end_to_end(steady_participant):
    trial = await Trial.objects.select_related("arm_a").aget(participant=steady_participant, index=0)
    pane = "A" if trial.arm_a.name == "steady" else "B"
    communicator = WebsocketCommunicator(
        application, f"/ws/p/{steady_participant.token}/", headers=[(b"origin", b"http://127.0.0.1")]
    )
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    frames = []
    while not frames or frames[-1]["type"] != "stream.end":
        frames.append(await communicator.receive_json_from(timeout=10))
    await communicator.disconnect()

    assert frames[0]["type"] == "stream.start" and frames[0]["delivery"] == "controlled"
    steady = [frame for frame in frames if frame["type"] == "stream.delta" and frame["pane"] == pane]
    tokens = split_tokens(RESPONSE)
    # 40 tokens/s is slower than the display's frame rate: one frame per token, evenly spaced.
    assert [frame["text"] for frame in steady] == tokens
    assert [frame["due_ms"] for frame in steady] == [round((0.1 + index / 40) * 1000, 3) for index in range(len(tokens))]
    assert {frame["pane"] for frame in frames if frame["type"] == "stream.done"} == {"A", "B"}
    trial = await Trial.objects.aget(pk=trial.pk)
    assert trial.delivery == "controlled" and trial.stream_t0 is not None


def test_it_round_trips_the_toy_kind_through_the_study_file(steady_participant):
    exported = export_study(steady_participant.study)

    assert "    kind: constant_rate\n" in exported
    assert "    tokens_per_second: 40\n" in exported and "    start_s: 0.1\n" in exported
    assert [arm.model_dump() for arm in parse_study_yaml(exported).arms] == [
        arm.model_dump() for arm in parse_study_yaml(STUDY_YAML).arms
    ]


def test_it_forgets_the_toy_kind_once_unregistered(constant_rate):
    kinds.unregister(constant_rate.name)
    try:
        with pytest.raises(StudyFileError) as caught:
            parse_study_yaml(STUDY_YAML)
        assert caught.value.errors == ["arms[0].kind: must be one of: synthetic, live, trace"]
    finally:
        kinds.register(constant_rate)
