"""The builder's adaptive-design section: make a study adaptive (or fixed again) and edit its
``design.adaptive`` block, with the schema's problems beside the fields (docs/builder.md,
docs/adaptive.md). Saving goes through actions.builder like every other section."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from uxlab.studies import drafts
from uxlab.studies.access import get_study_for_user
from uxlab.studies.actions import builder as build
from uxlab.web.builder import adaptive_form
from uxlab.web.builder.views import _builder_context, _saved

SECTION = "adaptive"


@login_required
@require_http_methods(["GET", "POST"])
def adaptive_section(request, code):
    """The adaptive block's form: off for a fixed design (its fields offered with a starting point),
    on with the block's values for an adaptive one."""
    study = get_study_for_user(request.user, code, write=True)
    context = _builder_context(request, study, drafts.SECTIONS_BY_NAME[SECTION])
    document = context["document"]
    problems = context["grouped"].get(SECTION, [])
    if request.method == "POST":
        enabled, block = adaptive_form.parse(document, request.POST)
        result = build.save_section(study, request.user, SECTION, {"adaptive": block} if enabled else {},
                                    detail="saved the adaptive design" if enabled else "made the design fixed")
        if result.saved:
            return _saved(request, study, result, reverse("web:builder_section", args=[study.code, SECTION]))
        form = adaptive_form.form_for(document, block, enabled)
        problems = result.section_problems
    elif drafts.is_adaptive(document):
        form = adaptive_form.form_for(document, document["design"]["adaptive"], True)
    else:
        form = adaptive_form.form_for(document, adaptive_form.starting_block(document), False)
    adaptive_form.attach_errors(form, problems)
    context.update({"form": form, "has_pairs": bool((document.get("design") or {}).get("pairs"))})
    return render(request, "builder/adaptive.html", context, status=400 if request.method == "POST" else 200)
