"""Accessibility checks shared by the browser tests: axe-core (vendored in tests/browser/assets, never
fetched at run time) run in a page, the study every page state is reached in, and a researcher's
logged-in page.

`axe_violations(page)` injects axe into the page through the DevTools protocol (so the pages' own
Content-Security-Policy, which allows no inline script, does not have to be loosened) and returns the
WCAG 2.0/2.1/2.2 A and AA violations as short readable strings.
"""

from pathlib import Path

from django.test import Client

AXE_SOURCE = (Path(__file__).parent / "assets" / "axe.min.js").read_text()
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

RUN_AXE = """async (tags) => {
  // target-size (2.5.8, WCAG 2.2 AA) is off by default in axe 4.14: turned on here.
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, rules: {"target-size": {enabled: true}}, resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary.replace(/\\s+/g, " ")),
  }));
}"""


def axe_violations(page):
    """The page's WCAG A/AA violations as they stand now, e.g. ["color-contrast (serious): ...: #x ..."]."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    found = page.evaluate(RUN_AXE, WCAG_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} -> {'; '.join(v['nodes'])}" for v in found]


def page_overflow(page):
    """How many CSS pixels the page is wider than its window (0 when nothing scrolls sideways)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def overflowing_elements(page, limit=3):
    """The innermost elements that reach past the window's right edge (what makes the page scroll
    sideways), as short CSS-like names, e.g. ["main > section.card > p.lead"]."""
    return page.evaluate("""(limit) => {
      const width = document.documentElement.clientWidth;
      const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + [...el.classList].map((c) => "." + c).join("");
      const path = (el) => [el.parentElement, el].filter(Boolean).map(name).join(" > ");
      const wide = [...document.body.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().right > width + 0.5
        && getComputedStyle(el).position !== "fixed" && !el.closest(".table-scroll, .visually-hidden"));
      return wide.filter((el) => !wide.some((other) => other !== el && el.contains(other))).slice(0, limit)
        .map((el) => `${path(el)} (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
    }""", limit)


# A study with every question kind, a practice round and a slow arm, so that a trial stays in its
# streaming state long enough to be checked and every answer input is on the page.
A11Y_STUDY_YAML = """
version: 1
code: access
title: Accessibility study
consent:
  version: "1"
  text: You agree to take part in a short test.
instructions: Watch both answers appear, then answer the questions below them.
completion:
  code: ACCESS01
practice:
  text: Practice question.
  response: A short practice answer.
arms:
  - name: fast_arm
    ttft_s: 0.05
    tokens_per_second: 400
  - name: slow_arm
    ttft_s: 0.3
    tokens_per_second: 12
prompts:
  - name: greeting
    text: Say hello.
    response: Hello there! It is nice to meet you today, and I hope that the test goes well for you.
questions:
  - name: faster
    kind: forced_choice_tie
    text: Which response felt faster?
  - name: wait_ok
    kind: likert
    scale: 5
    low_label: Not acceptable
    high_label: Completely acceptable
    text: How acceptable was the wait?
  - name: smooth
    kind: slider
    per_pane: false
    low_label: Jerky
    high_label: Smooth
    text: How smooth was the text?
  - name: wait
    kind: wait_estimate
    per_pane: false
    text: How long did you wait for the first word?
  - name: comment
    kind: free_text
    text: Anything else?
design:
  pairs: [[fast_arm, slow_arm]]
  seed: access
  allow_stacked: false
  ask_assistive_technology: true
"""


def logged_in_page(browser, user, base_url):
    """A fresh page carrying `user`'s session cookie (made by the test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}])
    return context.new_page()


def answer_every_question(page):
    """Answer each question of the trial on screen (a choice with its second answer, a slider one
    step up, 4 seconds, a word of text) and send; returns when the next page has loaded."""
    page.locator("#answers[data-allowed=true]").wait_for(timeout=45_000)
    for question in page.locator("#answers .question").all():
        kind = question.get_attribute("data-kind")
        field = question.locator("input:not([type=hidden]), textarea").first
        field.focus()
        if kind == "slider":
            page.keyboard.press("ArrowRight")
        elif kind == "wait_estimate":
            page.keyboard.type("4")
        elif kind == "free_text":
            page.keyboard.type("fine")
        else:
            page.keyboard.press("2")
    with page.expect_navigation(timeout=45_000):
        page.locator("#send-answers").click()
