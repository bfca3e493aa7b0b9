"""Driving the participant pages in a real browser, shared by the browser and smoke tests.

Everything is done with the keyboard (Enter on the focused button, number keys for choices and
Likert points then Tab to the next question, typing for numbers and text), so the same helper
proves keyboard-only completion the way the page's hint describes it.
"""

import re

ANSWER_TIMEOUT_MS = 45_000
STEP_URL = re.compile(r"/p/[^/]+/(checks|consent|instructions|trial|done)/$")


def start_session(page, base_url, code, query=""):
    """From the study link through the checks, consent and instructions to the first trial.

    Each step's main button has the focus when the page opens, so Enter is all it takes.
    """
    page.goto(f"{base_url}/s/{code}/{query}")
    press_enter_on(page, "Start")
    page.wait_for_url(re.compile(r"/consent/$"), timeout=20_000)
    press_enter_on(page, re.compile("I agree"))
    page.wait_for_url(re.compile(r"/instructions/$"))
    press_enter_on(page, "Begin")
    page.wait_for_url(re.compile(r"/(trial|done)/$"))


def press_enter_on(page, name):
    button = page.get_by_role("button", name=name)
    button.wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.tagName === 'BUTTON'")
    assert button.evaluate("el => el === document.activeElement"), f"{name} does not have the focus"
    page.keyboard.press("Enter")


def answer_trial(page, answer_key="1", attention_keys=None):
    """Wait until answering is allowed, answer every question by keyboard and send with Enter."""
    page.locator("#answers[data-allowed=true]").wait_for(timeout=ANSWER_TIMEOUT_MS)
    is_attention = "attention check" in page.locator("#pane-A .answer").inner_text()
    for question in page.locator("#answers .question").all():
        name = question.get_attribute("data-question")
        kind = question.get_attribute("data-kind")
        if kind in ("wait_estimate", "free_text", "slider"):
            field = question.locator("input, textarea").first
            field.focus()
            if kind == "slider":
                page.keyboard.press("ArrowRight")
            else:
                page.keyboard.type("4" if kind == "wait_estimate" else "fine")
            continue
        # No focusing here: answering starts on the first question; a number key picks, Tab moves on.
        key = (attention_keys or {}).get(name, answer_key) if is_attention else answer_key
        page.keyboard.press(key)
        page.keyboard.press("Tab")
    with page.expect_navigation(timeout=ANSWER_TIMEOUT_MS):
        page.keyboard.press("Enter")


def complete_session(page, base_url, code, query="", answer_key="1", attention_keys=None, max_trials=20):
    """Open the study link, pass every step and answer every trial by keyboard; return the code."""
    start_session(page, base_url, code, query)
    for _ in range(max_trials):
        page.wait_for_url(STEP_URL)
        if page.url.endswith("/done/"):
            break
        answer_trial(page, answer_key, attention_keys)
    page.wait_for_url(re.compile(r"/done/$"))
    return page.locator("#completion-code").inner_text().strip()
