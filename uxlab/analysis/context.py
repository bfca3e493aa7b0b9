"""What the row generators and summaries share about one study: its arms' order and profiles, and
each participant's flags for the exclusion rules (pilot or preview, failed attention check,
assistive technology, did not complete)."""

from django.db.models import Q

from uxlab.analysis import stats
from uxlab.studies.models import Participant, Trial


class StudyContext:
    """Per-study lookups the row generators share: arm order, arm profiles, failed participants."""

    def __init__(self, study):
        self.study = study
        arms = list(study.arms.all())
        self.arm_order = [arm.name for arm in arms]
        self.profiles = {arm.name: arm.profile or {} for arm in arms}
        # Pilot and preview participants (Participant.mode), left out by the "pilot" rule.
        self.uncounted = set(study.participants.exclude(mode="").values_list("pk", flat=True))
        self.failed_attention = set(
            Trial.objects.filter(participant__study=study, attention_passed=False).values_list(
                "participant_id", flat=True
            )
        )
        # Participants who did not finish: not (yet) completed, or ended by a time-out, a backend
        # failure or skipped trials (the `did_not_complete` exclusion rule).
        self.did_not_complete = set(
            Participant.objects.filter(study=study)
            .filter(~Q(status=Participant.Status.COMPLETED) | Q(outcome__in=stats.NOT_COMPLETED_OUTCOMES))
            .values_list("pk", flat=True)
        )
        self.assistive = set(study.participants.filter(assistive_technology=True).values_list("pk", flat=True))

    def participant_flags(self, participant):
        """What the exclusion rules read about a trial's participant (see trial_record)."""
        return {
            "participant_failed_attention_check": participant in self.failed_attention,
            "participant_assistive_technology": participant in self.assistive,
            "pilot": participant in self.uncounted,
            "participant_did_not_complete": participant in self.did_not_complete,
        }

    def pair(self, arm_a, arm_b):
        return "|".join(stats.pair_key(arm_a, arm_b, self.arm_order))

    def profile_value(self, arm, name):
        return self.profiles.get(arm, {}).get(name)

    def pane_values(self, arm, live, stimulus=None):
        """A pane's TTFT and speed (the arm's target; a live arm's as its backend delivered them;
        an adaptive trial's test pane as its ``stimulus`` changed them) and its live columns (empty
        for other arms)."""
        if live is None:
            timing = {name: self.profile_value(arm, name) for name in ("ttft_s", "tokens_per_second")}
            if isinstance(stimulus, dict) and stimulus.get("dimension") in timing:
                timing[stimulus["dimension"]] = stimulus.get("value")
            return (timing["ttft_s"], timing["tokens_per_second"]), (None,) * 4
        return (live["ttft_s"], live["tokens_per_second"]), tuple(
            live[name] for name in ("finish_reason", "failure", "in_flight", "queued_s")
        )

    def participant_exclusion(self, participant, rules):
        """The enabled rules that leave the participant out as a whole (rules on a trial aside)."""
        return stats.exclusion_reasons(self.participant_flags(participant), rules)
