"""Backends that produce a pane's text: live OpenAI-compatible endpoints (``openai_compat``)."""
