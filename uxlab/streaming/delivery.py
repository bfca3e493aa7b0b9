"""The messages of one trial's stream, numbered and timed: a pure function of the frames and mode.

Because the plan is deterministic, any web process can rebuild it and resume after the last
sequence number the browser saw (docs/protocol.md). Modes:
- ``controlled``: each frame is sent ``lookahead_s`` before it is due; the browser presents it
  at its due time on its own frame clock, so network jitter does not change the stimulus.
- ``server_paced``: each frame is sent at its due time and painted on arrival.
"""

from dataclasses import dataclass

from uxlab.streaming.pacing import Frame

CONTROLLED = "controlled"
SERVER_PACED = "server_paced"
LIVE = "live"
MODES = (CONTROLLED, SERVER_PACED, LIVE)

LOOKAHEAD_S = 0.25
# t0 is set this far in the future so the first frames of both panes are in the browser before
# anything is due, and both panes start on the same frame.
START_DELAY_S = 0.4


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message: ``delta`` carries a frame's text, ``done`` ends a pane."""

    seq: int
    send_s: float
    kind: str
    frame: Frame


def plan_messages(frames, mode=CONTROLLED, lookahead_s=LOOKAHEAD_S):
    """Number the frames' messages from 1 and say when each is sent, relative to t0."""
    lead = lookahead_s if mode == CONTROLLED else 0.0
    messages = []
    for frame in frames:
        send_s = frame.due_s - lead
        if frame.tokens:
            messages.append(Message(len(messages) + 1, send_s, "delta", frame))
        if frame.last:
            messages.append(Message(len(messages) + 1, send_s, "done", frame))
    return messages


def delta_targets(frames):
    """{pane: {seq: (due_s, tokens, phase, token_dues)}} of the delta messages, numbered as
    plan_messages numbers them (in any mode: the mode changes when a message is sent, not its
    number), without building the messages: what fidelity needs of a trial's plan."""
    targets = {"A": {}, "B": {}}
    seq = 0
    for frame in frames:
        if frame.tokens:
            seq += 1
            targets[frame.pane][seq] = (frame.due_s, frame.tokens, frame.phase, frame.token_dues())
        if frame.last:
            seq += 1
    return targets


def messages_after(messages, after_seq):
    """The messages a browser that has seen everything up to ``after_seq`` still needs."""
    return [message for message in messages if message.seq > after_seq]
