"""An adaptive session's state and its steps (uxlab/adaptive; docs/adaptive.md).

The run holds the procedures' JSON state; each adaptive trial has one step saying what it showed
(track, stimulus value, which pane held it) and, once its answer is stored, the answer and the
track's posterior summary after it. All of it is server side: the browser sees panes A and B only.
"""

from django.db import models
from django.utils import timezone


class AdaptiveRun(models.Model):
    participant = models.OneToOneField("studies.Participant", on_delete=models.CASCADE, related_name="adaptive_run")
    # The reference arm's value of the dimension when the run started (the design's anchor).
    reference_value = models.FloatField()
    state = models.JSONField(default=dict)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"adaptive run of participant {self.participant_id}"


class AdaptiveStep(models.Model):
    run = models.ForeignKey(AdaptiveRun, on_delete=models.CASCADE, related_name="steps")
    trial = models.OneToOneField("studies.Trial", on_delete=models.CASCADE, related_name="adaptive_step")
    number = models.PositiveIntegerField(help_text="The step's place in the run, from 0 (catch trials included).")
    track = models.CharField(max_length=60)
    catch = models.BooleanField(default=False)
    # The difficulty (log10 distance from the reference) and the value the test pane showed.
    level = models.FloatField()
    value = models.FloatField()
    test_pane = models.CharField(max_length=1)
    answer = models.CharField(max_length=200, blank=True)
    correct = models.BooleanField(null=True, blank=True)
    # The track's estimate after this answer (threshold in log10 units, its interval, ...).
    summary = models.JSONField(default=dict, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="one_adaptive_step_per_number")]

    def __str__(self):
        return f"step {self.number} of {self.run}"
