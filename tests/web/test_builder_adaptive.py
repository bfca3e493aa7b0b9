"""The builder's adaptive-design section: a study made adaptive and fixed again, the schema's
problems beside their fields, the block unchanged by a save of what the form shows, and hostile
posts answered with a page of problems."""

import re
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from uxlab.studies import drafts
from uxlab.studies.actions import builder as build
from uxlab.studies.models import Study
from uxlab.web.builder import adaptive_form

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "speed_threshold_adaptive.yaml"
FIXED = {
    "version": 1, "code": "fixed", "title": "Fixed for now",
    "consent": {"version": "1", "text": "You agree."},
    "arms": [{"name": "reference", "tokens_per_second": 15, "ttft_s": 0.5},
             {"name": "slow", "tokens_per_second": 5, "ttft_s": 0.5}],
    "prompts": [{"name": "hi", "text": "Say hi.", "response": "Hi there, nice to meet you."}],
    "questions": [{"name": "faster", "kind": "forced_choice", "text": "Which appeared faster?"}],
    "design": {"pairs": [["reference", "slow"]], "trials_per_participant": 1},
}
VALID = {
    "adaptive_enabled": "on", "reference": "reference", "dimension": "tokens_per_second", "question": "faster",
    "procedure": "staircase", "tracks.0.name": "slower", "tracks.0.low": "1.5", "tracks.0.high": "15",
    "tracks.1.name": "faster", "tracks.1.low": "15", "tracks.1.high": "150", "tracks.1.start": "100",
    "catch_trials": "0.1", "max_trials": "30", "stop.reversals": "8", "staircase.rule": "1up3down",
    "staircase.steps": "0.3, 0.1 0.05",
    # QUEST+'s settings, left in the form when the procedure changed: not the staircase's, so dropped.
    "stop.posterior_sd": "0.05", "quest_plus.prior.threshold": "5", "quest_plus.prior.sd_log10": "0.3",
}


@pytest.fixture
def fixed(client, team, alice):
    client.force_login(alice)
    return build.create_study(team, alice, FIXED)


def url(study):
    return reverse("web:builder_section", args=[study.code, "adaptive"])


def field_error(html, name):
    match = re.search(rf'data-field="{re.escape(name)}".*?(?:class="field-error"[^>]*>(?P<error>[^<]*)<|</div>)', html, re.S)
    return match and match["error"]


def test_it_offers_a_fixed_study_a_starting_point_and_makes_it_adaptive(client, fixed):
    page = client.get(url(fixed)).content.decode()
    assert 'id="adaptive-enabled"' in page and 'id="adaptive-enabled" checked' not in page
    assert 'name="tracks.0.low" type="text" inputmode="decimal" value="1.5"' in page  # a tenth of 15 tokens/s
    assert 'id="replaces-pairs"' in page

    response = client.post(url(fixed), VALID)
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Study.objects.get(pk=fixed.pk)
    adaptive = study.design["adaptive"]
    assert adaptive["procedure"] == "staircase" and adaptive["max_trials"] == 30 and adaptive["catch_trials"] == 0.1
    assert adaptive["tracks"] == [{"name": "slower", "range": [1.5, 15]},
                                  {"name": "faster", "range": [15, 150], "start": 100}]
    assert adaptive["staircase"] == {"rule": "1up3down", "steps": [0.3, 0.1, 0.05], "use_reversals": 6}
    assert adaptive["stop"] == {"reversals": 8} and "quest_plus" not in adaptive
    assert not study.design.get("pairs") and study.design.get("trials_per_participant") is None

    design = client.get(reverse("web:builder_section", args=[study.code, "design"])).content.decode()
    assert 'id="adaptive-note"' in design and 'name="pairs"' not in design and 'name="seed"' in design
    assert client.post(reverse("web:builder_section", args=[study.code, "design"]), {"seed": "again"}).status_code == 302
    assert Study.objects.get(pk=study.pk).design["adaptive"] == adaptive  # the design page leaves it alone


def test_unticking_makes_the_design_fixed_again_and_the_overview_asks_for_pairs(client, fixed):
    client.post(url(fixed), VALID)
    response = client.post(url(fixed), {**VALID, "adaptive_enabled": ""})
    assert response.status_code == 302
    document = build.draft_of(fixed).document
    assert "adaptive" not in document["design"]
    overview = client.get(reverse("web:builder", args=[fixed.code])).content.decode()
    assert "give pairs (a fixed design) or adaptive" in overview


@pytest.mark.parametrize(
    ("changes", "where", "error"),
    [
        ({"catch_trials": "0.9"}, "catch_trials", "must be &lt;= 0.5"),
        ({"max_trials": "many"}, "max_trials", "must be a whole number"),
        ({"staircase.steps": "0.2, big"}, "staircase.steps", "must be a number"),
        ({"tracks.0.low": "0"}, "tracks.0.low", "must be &gt; 0"),
        ({"tracks.0.name": ""}, "tracks.0.name", "required"),
        ({"tracks.0.start": "50"}, "track-0", "start must be within range"),
        ({"tracks.0.low": "20", "tracks.0.high": "5"}, "track-0", "range must be [low, high] with low &lt; high"),
        ({"tracks.0.low": "5", "tracks.0.high": "50"}, "track-0",
         "must lie on one side of the reference (15); use two tracks for both sides"),
        ({"tracks.1.name": "slower"}, "tracks", "track names must differ"),
        ({"question": "nope"}, "question", "unknown question &#x27;nope&#x27;"),
        ({"procedure": "quest_plus", "quest_plus.prior.threshold": "500"}, "quest_plus.prior.threshold",
         "must lie within a track&#x27;s range"),
        ({"procedure": "quest_plus", "quest_plus.prior.sd_log10": "0.01"}, "stop.posterior_sd",
         "the prior alone is this narrow"),
    ],
)
def test_it_shows_each_problem_beside_its_field_and_saves_nothing(client, fixed, changes, where, error):
    response = client.post(url(fixed), {**VALID, **changes})
    html = response.content.decode()
    assert response.status_code == 400
    if where.startswith("track-"):
        shown = re.search(rf'id="{where}-error">([^<]*)<', html)[1]
    elif where == "tracks":
        shown = re.search(r'id="tracks-error">([^<]*)<', html)[1]
    else:
        shown = field_error(html, where)
    assert shown and error in shown, html[html.find("field-error") - 500:][:1500]
    assert 'id="form-errors"' not in html  # nothing left over without its place
    assert "adaptive" not in build.draft_of(fixed).document["design"]
    assert Study.objects.get(pk=fixed.pk).design.get("pairs") == [["reference", "slow"]]


def test_saving_what_the_form_shows_leaves_the_example_identical(client, team, alice):
    client.force_login(alice)
    study = build.create_study(team, alice, yaml.safe_load(EXAMPLE.read_text()))
    before = drafts.study_document(study)
    document = build.draft_of(study).document
    form = adaptive_form.form_for(document, document["design"]["adaptive"], True)
    posted = {spec.name: spec.value for spec in form.all_fields} | {"adaptive_enabled": "on"}
    response = client.post(url(study), posted)
    assert response.status_code == 302, response.content.decode()[:3000]
    study.refresh_from_db()
    assert drafts.study_document(study) == before
    # And the study exported by the builder imports to the same design.
    exported = client.get(reverse("web:builder_yaml", args=[study.code])).content.decode()
    assert yaml.safe_load(exported)["design"] == before["design"]


@pytest.mark.parametrize("garbage", [
    {"adaptive_enabled": "on"},
    {"adaptive_enabled": "on", "reference": "x" * 500, "dimension": "colour", "procedure": "../../", "grid": "1e999",
     "tracks.0.low": "nan", "tracks.0.high": "-inf", "tracks.7.name": "<script>", "quest_plus.slopes": ",,,",
     "staircase.rule": "2up", "stop.trials_per_track": "-3"},
])
def test_garbage_is_a_page_of_problems(client, fixed, garbage):
    response = client.post(url(fixed), garbage)
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()


def test_a_viewer_gets_a_404_and_a_launched_study_a_frozen_section(client, fixed, bob):
    client.post(url(fixed), VALID)
    client.post(reverse("web:change_status", args=[fixed.code, "launch"]))
    assert Study.objects.get(pk=fixed.pk).status == Study.Status.LIVE
    page = client.get(url(fixed)).content.decode()
    assert 'id="frozen-note"' in page and 'id="save"' not in page
    response = client.post(url(fixed), {**VALID, "max_trials": "10"})
    assert response.status_code == 400 and "cannot change once a study is live" in response.content.decode()
    assert Study.objects.get(pk=fixed.pk).design["adaptive"]["max_trials"] == 30
    client.force_login(bob)
    assert client.get(url(fixed)).status_code == 404
    assert client.post(url(fixed), VALID).status_code == 404


def test_docs_name_every_section_page_at_its_url():
    """docs/builder.md gives the section pages' URL and every section's name, the adaptive one's too."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "builder.md").read_text()
    assert "`/studies/<code>/build/<section>/`" in text
    listed = re.search(r"with `<section>` one of (.+?)\.\n", text, re.S)[1]
    assert re.findall(r"`([a-z_]+)`", listed) == [section.name for section in drafts.SECTIONS]
    assert reverse("web:builder_section", args=["x", "adaptive"]) == "/studies/x/build/adaptive/"
    assert reverse("web:builder_adaptive", args=["x"]) == "/studies/x/build/adaptive/"
