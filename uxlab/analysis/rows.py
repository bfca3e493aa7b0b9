"""The ORM-touching half of analysis: study data as flat rows, streamed from the database."""

from uxlab.studies.models import Rating

RATING_COLUMNS = [
    "study",
    "participant",
    "trial_index",
    "prompt",
    "arm_a",
    "arm_b",
    "question",
    "value",
    "chosen_arm",
    "response_ms",
    "received_at",
    "stored_at",
    "rating_key",
]


def chosen_arm(value, arm_a, arm_b):
    return {"A": arm_a, "B": arm_b}.get(value, "")


def rating_rows(study):
    """One dict per stored rating, in participant and trial order, without loading them all."""
    ratings = (
        Rating.objects.filter(participant__study=study)
        .order_by("participant_id", "trial__index", "question__position")
        .values_list(
            "participant_id",
            "trial__index",
            "trial__prompt__name",
            "trial__arm_a__name",
            "trial__arm_b__name",
            "question__name",
            "value",
            "response_ms",
            "received_at",
            "stored_at",
            "key",
        )
    )
    for participant, index, prompt, arm_a, arm_b, question, value, response_ms, received, stored, key in (
        ratings.iterator(chunk_size=2000)
    ):
        yield {
            "study": study.code,
            "participant": participant,
            "trial_index": index,
            "prompt": prompt,
            "arm_a": arm_a,
            "arm_b": arm_b,
            "question": question,
            "value": value,
            "chosen_arm": chosen_arm(value, arm_a, arm_b),
            "response_ms": response_ms,
            "received_at": received.isoformat(),
            "stored_at": stored.isoformat(),
            "rating_key": str(key),
        }
