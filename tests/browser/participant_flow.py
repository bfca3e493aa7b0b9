"""Driving the participant pages in a real browser, shared by the browser and smoke tests."""

import re

ANSWER_TIMEOUT_MS = 45_000


def complete_session(page, base_url, code, query="", answer_key="1", max_trials=20):
    """Open the study link, consent, answer every trial by keyboard; return the completion code."""
    page.goto(f"{base_url}/s/{code}/{query}")
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name=re.compile("I agree")).click()
    for _ in range(max_trials):
        page.wait_for_url(re.compile(r"/p/[^/]+/(trial|done)/$"))
        if page.url.endswith("/done/"):
            break
        heading = page.locator(".progress span").inner_text()
        page.locator(".choice:not([disabled])").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert page.locator("#pane-A .answer").inner_text().strip()
        assert page.locator("#pane-B .answer").inner_text().strip()
        page.keyboard.press(answer_key)
        page.wait_for_function(
            "heading => !document.querySelector('.progress span') ||"
            " document.querySelector('.progress span').innerText !== heading",
            arg=heading,
            timeout=ANSWER_TIMEOUT_MS,
        )
    page.wait_for_url(re.compile(r"/done/$"))
    return page.locator("#completion-code").inner_text().strip()
