"""uxlab: studies of how people perceive LLM streaming speed."""

from uxlab.celery import app as celery_app

__all__ = ["celery_app"]
