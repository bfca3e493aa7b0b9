"""A long answer is shown as sealed lines plus a live tail (stream.js AnswerText), so each frame lays
out only the tail. The sealed lines must be the lines the one paragraph had: the same pixels, the
same text for the page and for copying, after a resize too. Each check compares a pane streamed
token by token through AnswerText with the same text set at once as one paragraph.
"""

import pytest

from tests.browser.static_page import open_static_page

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><link rel="stylesheet" href="/uxlab.css"></head>
<body><div style="display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; width: 900px">
<div class="answer" id="streamed"></div><div class="answer" id="whole"></div></div>
<script type="module">
import { AnswerText } from "/stream.js";
window.stream = (tokens) => {
  const answer = new AnswerText(document.getElementById("streamed"));
  for (const token of tokens) answer.append(token);
  document.getElementById("whole").textContent = tokens.join("");
  return document.querySelectorAll("#streamed .sealed").length;
};
window.ready = true;
</script></body></html>"""

SENTENCE = "Water boils at a lower temperature at altitude because the air pressure is lower there. "
TEXTS = {
    "one paragraph": SENTENCE * 120,
    "paragraphs and long words": ("A line of its own.\n\n" + SENTENCE * 6 + "Pneumonoultramicroscopicsilicovolcanoconiosis-" * 4 + "\n") * 12,
    "wide characters": ("Boiling 🌋 at altitude: 沸点は高度とともに下がる。" + SENTENCE) * 40,
}


@pytest.fixture
def page(browser):
    return open_static_page(browser, PAGE, ["uxlab.css", "stream.js"], viewport={"width": 1000, "height": 800})


def tokens_of(text):
    """Word-sized tokens, as a model streams them (whitespace kept on the token before it)."""
    tokens, current = [], ""
    for char in text:
        current += char
        if char in " \n":
            tokens.append(current)
            current = ""
    return tokens + ([current] if current else [])


def assert_same(page):
    streamed, whole = page.locator("#streamed"), page.locator("#whole")
    assert streamed.text_content() == whole.text_content()
    assert streamed.inner_text() == whole.inner_text()
    assert streamed.bounding_box()["height"] == whole.bounding_box()["height"]
    assert streamed.screenshot() == whole.screenshot()


@pytest.mark.parametrize("name", TEXTS)
def test_it_shows_sealed_lines_exactly_as_one_paragraph(page, name):
    sealed = page.evaluate("(tokens) => window.stream(tokens)", tokens_of(TEXTS[name]))
    assert sealed >= 2  # the long answer was sealed, or this test compares nothing
    assert_same(page)


def test_it_joins_the_sealed_lines_when_the_width_changes(page):
    page.evaluate("(tokens) => window.stream(tokens)", tokens_of(TEXTS["one paragraph"]))
    page.evaluate("document.body.firstElementChild.style.width = '700px'")
    page.wait_for_function("document.querySelectorAll('#streamed .sealed').length === 0")
    assert_same(page)


def test_it_never_splits_right_to_left_text(page):
    text = ("الماء يغلي عند درجة حرارة أقل على الارتفاعات العالية. " + SENTENCE) * 60
    assert page.evaluate("(tokens) => window.stream(tokens)", tokens_of(text)) == 0
    assert_same(page)
