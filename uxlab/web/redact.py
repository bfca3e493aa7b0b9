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
