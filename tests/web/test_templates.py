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
