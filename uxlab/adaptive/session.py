"""One participant's adaptive session: one or more interleaved tracks, each run by a procedure,
plus catch trials; every choice is seeded by the session's seed and trial number, so the state
(plain JSON) replays the same way on any process.

The next trial is (track, stimulus value, catch or not, which pane shows the test stimulus). A
catch trial shows the easiest stimulus of a track still running and does not move any track: its
answers measure attention and lapses. Tracks are picked at random among those still running, so a
participant cannot tell which track a trial belongs to.
"""

import copy
import random

from uxlab.adaptive.procedures import DEFAULTS, PROCEDURES, Track


def with_defaults(config):
    """The adaptive block with every setting filled in from DEFAULTS (a new dict)."""
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update({name: item for name, item in value.items() if item is not None})
        elif value is not None:
            merged[key] = value
    return merged


class AdaptiveSession:
    """The procedures of one adaptive design around a reference stimulus value."""

    def __init__(self, config, reference_value):
        self.config = with_defaults(config)
        self.reference_value = float(reference_value)
        procedure = PROCEDURES[self.config["procedure"]]
        self.tracks = {}
        for spec in self.config["tracks"]:
            low, high = sorted(spec["range"])
            track = Track(spec["name"], low, high, self.reference_value, self.config["grid"], spec.get("start"))
            self.tracks[track.name] = procedure(self.config, track)

    def start(self, seed):
        return {
            "seed": str(seed),
            "trials": 0,
            "catch": {"trials": 0, "correct": 0},
            "tracks": {name: procedure.start() for name, procedure in self.tracks.items()},
            "finished": False,
        }

    def running(self, state):
        return [name for name, procedure in self.tracks.items() if not procedure.done(state["tracks"][name])]

    def is_finished(self, state):
        return state["trials"] >= self.config["max_trials"] or not self.running(state)

    def next_trial(self, state):
        """The next trial's stimulus, or None once the session is finished."""
        running = self.running(state)
        if state["trials"] >= self.config["max_trials"] or not running:
            return None
        rng = random.Random(f"{state['seed']}:{state['trials']}")
        name = rng.choice(running)
        procedure = self.tracks[name]
        catch = rng.random() < self.config["catch_trials"]
        level = procedure.track.bounds[1] if catch else procedure.next_level(state["tracks"][name])
        return {
            "track": name,
            "level": level,
            "value": procedure.track.value(level),
            "reference_value": self.reference_value,
            "catch": catch,
            "test_pane": rng.choice("AB"),
        }

    def advanced(self, state, trial, correct):
        """The state after the answer to ``trial`` (as next_trial made it); a new dict."""
        state = copy.deepcopy(state)
        state["trials"] += 1
        if trial["catch"]:
            state["catch"]["trials"] += 1
            state["catch"]["correct"] += int(bool(correct))
        else:
            procedure = self.tracks[trial["track"]]
            state["tracks"][trial["track"]] = procedure.update(state["tracks"][trial["track"]], trial["level"], correct)
        state["finished"] = self.is_finished(state)
        return state

    def record(self, state, trial, correct):
        """The state after the answer to ``trial`` and the track's summary."""
        state = self.advanced(state, trial, correct)
        return state, self.tracks[trial["track"]].summary(state["tracks"][trial["track"]])

    def ends_after(self, state, trial):
        """Whether the session finishes after the answer to ``trial`` whichever answer it is: the
        trial is certainly the last (max_trials reached, or every track stopping either way)."""
        return all(self.advanced(state, trial, correct)["finished"] for correct in (True, False))

    def estimates(self, state):
        """Each track's current summary (threshold in log10 units with its interval, when known)."""
        return {name: procedure.summary(state["tracks"][name]) for name, procedure in self.tracks.items()}
