"""Page scripts live in uxlab/static/uxlab/ as ES modules; templates only load them."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def test_it_keeps_script_code_out_of_templates():
    inline = []
    for template in TEMPLATES.rglob("*.html"):
        for attributes, body in SCRIPT.findall(template.read_text()):
            if body.strip() or "src=" not in attributes:
                inline.append(f"{template.relative_to(TEMPLATES)}: <script{attributes}>")
            elif 'type="module"' not in attributes:
                inline.append(f"{template.relative_to(TEMPLATES)}: not a module: <script{attributes}>")
    assert not inline, inline
    assert list(TEMPLATES.rglob("*.html")), "no templates found"


def test_it_keeps_page_titles_to_plain_text():
    """A title block holds text and variables only (a merge once left a whole section inside one)."""
    title = re.compile(r"{%\s*block title\s*%}(.*?){%\s*endblock", re.S)
    for template in TEMPLATES.rglob("*.html"):
        for body in title.findall(template.read_text()):
            assert "<" not in body and "\n" not in body.strip(), f"{template.relative_to(TEMPLATES)}: {body[:80]!r}"
