"""A study's participant-session settings, read from Study.design with their defaults.

The study file's `design` section (docs/study-format.md) is validated by studies.study_files and
stored as JSON on the study; this is the one place that knows the defaults (the study file's
DesignSpec takes its defaults from here), so views, actions, templates and the consumer read
`study.session.<setting>` instead of poking at the JSON.
"""

from dataclasses import dataclass, fields

from uxlab.streaming.delivery import CONTROLLED, SERVER_PACED

ORDERS = ("latin_square", "shuffle")
LAYOUTS = ("side_by_side", "sequential")
ANSWERING = ("after_both", "min_exposure", "any_time")
INTERRUPTED_TRIAL_POLICIES = ("restart", "resume", "block")
DELIVERIES = (CONTROLLED, SERVER_PACED)  # a study's choice; live arms are always relayed as produced


@dataclass(frozen=True)
class SessionDesign:
    pairs: tuple = ()
    seed: str | None = None
    # Assignment: order of a participant's trials, how many cells each gets (None = every cell),
    # and the most participants any one cell may have (None = no limit).
    order: str = "latin_square"
    trials_per_participant: int | None = None
    quota_per_cell: int | None = None
    # Presentation: both panes at once, or A then B; a narrow window may stack the panes.
    layout: str = "side_by_side"
    allow_stacked: bool = True
    min_viewport_width: int = 900
    min_viewport_height: int = 500
    # How synthetic and trace arms reach the screen (docs/protocol.md): controlled or server_paced.
    delivery: str = CONTROLLED
    # In the sequential layout, the pause between the end of A and the start of B, in seconds.
    sequential_gap_s: float = 1.0
    # When answering is allowed: after both panes finished, after a minimum exposure, or at once.
    answering: str = "after_both"
    min_exposure_s: float = 0.0
    # What a fresh page does with a trial whose stream was interrupted (read by actions.start_trial).
    interrupted_trial: str = "restart"
    # How often a trial may be restarted (a reload mid-stream, a failed live backend); past it the
    # trial is skipped with its reason recorded and the participant moves on.
    max_restarts: int = 2
    # A live arm whose last `failure_pause_after` requests failed at this rate or more pauses the
    # study (Study.paused_reason says why); 0 never pauses.
    failure_pause_rate: float = 0.5
    failure_pause_after: int = 10
    # Server-side limits (enforced by the expire_sessions beat task), in minutes.
    time_limit_minutes: float = 60.0
    abandon_after_minutes: float = 30.0
    # A query parameter carrying another panel's participant id (Prolific's are always read).
    participant_param: str | None = None
    # Refuse to start anyone who arrives without a panel id (PROLIFIC_PID or participant_param).
    require_participant_id: bool = False
    # How long the last trial page retries the final save before showing the code anyway.
    save_timeout_s: float = 60.0
    # Ask on the instructions page "I use a screen reader or screen magnifier" (optional to answer),
    # so such sessions can be analysed apart: the study measures how text looks as it appears.
    ask_assistive_technology: bool = False
    # Instructed-response trials: [{"prompt", "question", "expected", "after_trial"}].
    attention_checks: tuple = ()
    # An adaptive design's block (docs/adaptive.md) instead of pairs; None for a fixed design.
    adaptive: dict | None = None

    @classmethod
    def of(cls, design):
        design = design or {}
        known = {field.name for field in fields(cls)}
        values = {name: value for name, value in design.items() if name in known and value is not None}
        if "pairs" in values:
            values["pairs"] = tuple(tuple(pair) for pair in values["pairs"])
        if "attention_checks" in values:
            values["attention_checks"] = tuple(dict(check) for check in values["attention_checks"])
        return cls(**values)
