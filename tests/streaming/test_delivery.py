from hypothesis import given
from hypothesis import strategies as st

from uxlab.streaming.delivery import CONTROLLED, MODES, SERVER_PACED, delta_targets, messages_after, plan_messages
from uxlab.streaming.pacing import Frame


def frames():
    return [
        Frame("A", 0.2, "Hello", "answer", 1, False),
        Frame("B", 0.5, "", "thinking", 1, False),
        Frame("A", 0.3, " world", "answer", 1, True),
        Frame("B", 1.0, "Hi", "answer", 1, True),
    ]


def test_it_numbers_deltas_and_pane_ends_from_one():
    messages = plan_messages(frames(), SERVER_PACED)
    assert [(m.seq, m.kind, m.frame.pane) for m in messages] == [
        (1, "delta", "A"),
        (2, "delta", "B"),
        (3, "delta", "A"),
        (4, "done", "A"),
        (5, "delta", "B"),
        (6, "done", "B"),
    ]


def test_it_sends_at_the_due_time_when_server_paced():
    assert [m.send_s for m in plan_messages(frames(), SERVER_PACED)] == [0.2, 0.5, 0.3, 0.3, 1.0, 1.0]


def test_it_sends_ahead_by_the_lookahead_when_controlled():
    sends = [m.send_s for m in plan_messages(frames(), CONTROLLED, lookahead_s=0.25)]
    assert sends == [0.2 - 0.25, 0.5 - 0.25, 0.3 - 0.25, 0.3 - 0.25, 1.0 - 0.25, 1.0 - 0.25]


def test_it_gives_an_empty_pane_only_its_end():
    messages = plan_messages([Frame("A", 0.0, "", "answer", 0, True)])
    assert [(m.seq, m.kind) for m in messages] == [(1, "done")]


def test_it_resumes_after_a_sequence_number():
    messages = plan_messages(frames())
    assert [m.seq for m in messages_after(messages, 3)] == [4, 5, 6]
    assert messages_after(messages, 6) == []
    assert messages_after(messages, 0) == messages


frame_lists = st.lists(
    st.builds(
        Frame,
        pane=st.sampled_from("AB"),
        due_s=st.floats(0, 10),
        text=st.just("x"),
        phase=st.sampled_from(["thinking", "answer"]),
        tokens=st.integers(0, 3),
        last=st.booleans(),
    ),
    max_size=30,
)


@given(frame_lists, st.sampled_from(MODES))
def test_it_numbers_the_delta_targets_as_the_plan_numbers_its_deltas(frames, mode):
    planned = {"A": {}, "B": {}}
    for message in plan_messages(frames, mode):
        if message.kind == "delta":
            frame = message.frame
            planned[frame.pane][message.seq] = (frame.due_s, frame.tokens, frame.phase, frame.token_dues())
    assert delta_targets(frames) == planned
