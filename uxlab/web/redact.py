"""A logging filter that keeps participant tokens out of log lines: Django logs the path of every
4xx/5xx request (``Not Found: /p/<token>/trial/``), and the token is the participant's key."""

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/(?:ws/)?p/)[^/\s?#]+")


def redact(text):
    return TOKEN_IN_PATH.sub(r"\1<token>", text)


class RedactParticipantTokens(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RefusalsOnOneLine(logging.Filter):
    """Requests Django refuses as too large (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)
    get their 400 and one WARNING line, not an ERROR with a traceback: anyone can send them, so they
    are not errors of ours and must not flood the log with tracebacks."""

    def filter(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = f"refused: {record.exc_info[1]}", ()
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
