"""Hand work to Celery workers by task name, as Zulip's ``queue_json_publish`` does.

Actions call ``enqueue``; workers (``studies/tasks.py``) import actions. So actions never import
tasks and there is no import cycle. On the embedded default (no broker) the task runs right here,
in-process, as Celery's eager mode runs it.
"""

from uxlab.celery import app

STORE_RATINGS = "uxlab.studies.tasks.store_ratings"
STORE_TELEMETRY = "uxlab.studies.tasks.store_telemetry"
STORE_TELEMETRY_BATCH = "uxlab.studies.tasks.store_telemetry_batch"
RECORD_TRACE = "uxlab.studies.tasks.record_trace"
RUN_JOB = "uxlab.studies.tasks.run_job"


# Work answers must not queue behind (trials' telemetry) goes out at this priority: on the Redis broker
# a worker takes every message of the default priority (answers, 0) before one of these, so answers
# never queue behind telemetry (Redis keeps one list per priority step and reads them in order,
# 0 first; kombu's `priority_steps`). A broker without priorities ignores it.
LOW_PRIORITY = 9


def enqueue(task_name, *args, priority=None, argsrepr=None):
    """Publish one task message (retrying a flaky broker briefly, as CELERY_TASK_PUBLISH_RETRY_POLICY
    says); raises when the broker does not take it, so the caller can tell the browser to retry.

    ``argsrepr`` is what monitoring (worker logs' context, events, ``inspect``) shows of the
    arguments instead of Celery's repr of them: for a batch of answers that repr cost about 40 % of
    publishing it. The message's body, queue and priority are the same either way."""
    if app.conf.task_always_eager:
        return registered_task(task_name).apply_async(args=list(args))
    options = {} if argsrepr is None else {"argsrepr": argsrepr, "kwargsrepr": "{}"}
    return app.send_task(task_name, args=list(args), retry=True, priority=priority, **options)


def registered_task(task_name):
    """The task object itself (eager mode runs it in this process); importing the task modules once."""
    if task_name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[task_name]
