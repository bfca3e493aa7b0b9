"""The study builder's pages: create a study (blank, from a template, from YAML), edit each section
of its study file with the schema's problems beside the fields, and download the YAML at any time.

Owners and editors only (``get_study_for_user(..., write=True)``; viewers get the same 404 as
outsiders). Saving goes through actions.builder, which validates with the study-file schema.
See docs/builder.md.
"""

import yaml
from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from uxlab.streaming import kinds
from uxlab.streaming.presets import PRESETS, preset_choices
from uxlab.studies import drafts
from uxlab.studies.access import get_study_for_user
from uxlab.studies.example_studies import example_choices, example_studies
from uxlab.studies.actions import builder as build
from uxlab.studies.actions.lifecycle import available_transitions
from uxlab.studies.models import Membership, Team
from uxlab.studies.study_files import StudyFileError, export_study, parse_study_yaml
from uxlab.web.builder import forms
from uxlab.web.builder.examples import example_start
from uxlab.web.builder.presets import preset_card, preset_cards, refill_context, refilled_arm

MAX_UPLOAD_BYTES = 2_000_000
START_CHOICES = [
    ("template", "Compare two presets (a template)"), ("example", "An example study (a shipped study file)"),
    ("blank", "Blank study"), ("upload", "Upload a YAML study file"),
]


def writable_teams(user):
    return Team.objects.filter(
        memberships__user=user, memberships__role__in=[Membership.Role.OWNER, Membership.Role.EDITOR]
    ).order_by("name")


class CreateForm(django_forms.Form):
    team = django_forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    title = django_forms.CharField(max_length=200, required=False, help_text="Not needed for an example or an upload.")
    code = django_forms.SlugField(max_length=40, required=False, help_text="Used in the participant link; left empty, one is made up.")
    start = django_forms.ChoiceField(choices=START_CHOICES, initial="template", widget=django_forms.RadioSelect)
    first_preset = django_forms.ChoiceField(choices=preset_choices, initial="wafer_scale_8b", required=False)
    second_preset = django_forms.ChoiceField(choices=preset_choices, initial="loaded_gpu_cloud_70b", required=False)
    example = django_forms.ChoiceField(choices=example_choices, required=False, initial="demo")
    file = django_forms.FileField(required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = writable_teams(user)

    def clean_code(self):
        if self.cleaned_data["code"].lower() == "new":
            raise django_forms.ValidationError("'new' is reserved; choose another code.")
        return self.cleaned_data["code"]

    def clean(self):
        data = super().clean()
        if data.get("start") in ("blank", "template") and not (data.get("title") or "").strip():
            self.add_error("title", "Give the study a title.")
        if data.get("start") == "upload" and not data.get("file"):
            self.add_error("file", "Choose a YAML study file.")
        for name in ("first_preset", "second_preset"):
            if data.get("start") == "template" and not data.get(name) and name not in self.errors:
                self.add_error(name, "Choose a preset.")
        if data.get("start") == "example" and not data.get("example"):
            self.add_error("example", "Choose an example study.")
        return data


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    """A new draft study: blank, two presets compared, or an uploaded study file (validated in full)."""
    form = CreateForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        code = data["code"] or None
        try:
            document, action = _starting_document(data, code)
        except StudyFileError as exc:
            for line in exc.errors:
                form.add_error("file" if data["start"] == "upload" else "code", line)
            document = None
        if document is not None:
            try:
                detail = f"example {data['example']}" if data["start"] == "example" else data["start"]
                study = build.create_study(data["team"], request.user, document, action=action, detail=detail)
            except StudyFileError as exc:
                form.add_error("code", exc.errors[0].partition(": ")[2] + " — give another code")
            else:
                messages.success(request, "Study created as a draft.")
                return redirect("web:builder", code=study.code)
    context = {"form": form, "presets": preset_cards(), "examples": example_studies(),
               "has_team": form.fields["team"].queryset.exists()}
    return render(request, "builder/create.html", context, status=400 if form.errors else 200)


def _starting_document(data, code):
    if data["start"] == "upload":
        upload = data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise StudyFileError([f"(top level): the file is too large (at most {MAX_UPLOAD_BYTES:,} bytes)"])
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise StudyFileError(["(top level): the file is not UTF-8 text"]) from None
        definition = parse_study_yaml(text)  # the same check as `manage.py import_study`, every problem listed
        document = yaml.safe_load(text)
        if definition.code:
            document["code"] = definition.code  # `code: 2024` is the text "2024"
        if code:
            document["code"] = code
        if data.get("title"):
            document["title"] = data["title"]
        return document, "import_yaml"
    if data["start"] == "example":
        return example_start(data["example"], code, data.get("title")), "create"
    if data["start"] == "blank":
        return drafts.blank_document(data["title"], code), "create"
    return drafts.preset_comparison_document(data["title"], code, data["first_preset"], data["second_preset"]), "create"


def _builder_context(request, study, current=None):
    draft = build.draft_of(study)
    definition, problems = drafts.problems_of(draft.document)
    grouped = drafts.problems_by_section(problems)
    sections = [
        {"name": section.name, "title": section.title, "problems": len(grouped.get(section.name, [])),
         "frozen": build.frozen(study, section.name), "help": section.help}
        for section in drafts.SECTIONS
    ]
    return {
        "study": study, "draft": draft, "document": draft.document, "sections": sections, "current": current,
        "problems": problems, "grouped": grouped, "valid": definition is not None,
        "applied": definition is not None and not build.unapplied(study, draft.document),
        "transitions": available_transitions(study),
        "frozen": build.frozen(study, current.name) if current else False,
        "section_problems": grouped.get(current.name, []) if current else [],
    }


@login_required
def overview(request, code):
    """The builder's first page: every section with its problems, and what the study can do next."""
    study = get_study_for_user(request.user, code, write=True)
    context = _builder_context(request, study)
    context["problem_rows"] = [
        (path, message, drafts.section_of_path(path)) for path, message in context["problems"]
    ]
    return render(request, "builder/overview.html", context)


@login_required
def download_yaml(request, code):
    """The draft as a study file, valid or not; once valid and applied it is exactly the study's export."""
    study = get_study_for_user(request.user, code, write=True)
    document = build.draft_of(study).document
    if drafts.problems_of(document)[0] is not None and not build.unapplied(study, document):
        text = export_study(study)
    else:
        text = drafts.document_yaml(document)
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.code}.yaml"'
    return response


def _section_or_404(name):
    if name not in drafts.SECTIONS_BY_NAME:
        raise Http404("No such section.")
    return drafts.SECTIONS_BY_NAME[name]


def _saved(request, study, result, where):
    if result.applied:
        messages.success(request, "Saved. The study file is valid" + (
            f"; this is version {study.version}." if study.status != "draft" else " and the study is up to date."))
    else:
        count = len(result.other_problems)
        messages.success(request, f"Saved. {count} problem{'s' if count != 1 else ''} left elsewhere in the study file.")
    return redirect(where)


@login_required
@require_http_methods(["GET", "POST"])
def section(request, code, name):
    """A section's page: a form (details, design, session, practice, completion) or a list."""
    study = get_study_for_user(request.user, code, write=True)
    current = _section_or_404(name)
    context = _builder_context(request, study, current)
    if current.is_list:
        context["items"] = _list_items(name, context["document"], context["grouped"].get(name, []))
        context["arm_kinds"] = kinds.names()
        return render(request, "builder/list.html", context)
    specs = forms.SECTION_FIELDS[name]()
    # An adaptive design has no pairs: its Design page keeps the settings that still apply.
    adaptive = name == "design" and drafts.is_adaptive(context["document"])
    if adaptive:
        specs = [spec for spec in specs if spec.name not in drafts.PAIRS_ONLY_KEYS]
    data = drafts.section_data(context["document"], name)
    problems = context["grouped"].get(name, [])
    if request.method == "POST":
        data = _posted_section(name, specs, request.POST)
        if adaptive:
            data.pop("pairs", None)
        result = build.save_section(study, request.user, name, data)
        if result.saved:
            return _saved(request, study, result, reverse("web:builder_section", args=[study.code, name]))
        problems = result.section_problems
    forms.bind(specs, data.get("practice") if name == "practice" else data)
    context.update({
        "fields": specs, "other_errors": forms.attach_errors(specs, problems, _prefix(name)),
        "practice_enabled": bool(data.get("practice")) if name == "practice" else None,
        "pairs": _pair_choices(context["document"], data.get("pairs")) if name == "design" and not adaptive else None,
        "adaptive_design": adaptive,
        "pair_errors": [message for field in specs if field.name == "pairs" for message in field.errors],
    })
    if name == "design":
        context["pair_errors"] = [m for path, m in problems if path.startswith("design.pairs")]
    status = 400 if request.method == "POST" else 200
    return render(request, "builder/section.html", context, status=status)


def _prefix(name):
    return {"design": "design", "session": "design", "practice": "practice", "completion": "completion"}.get(name, "")


def _posted_section(name, specs, post):
    data = forms.parse(specs, post)
    if name == "practice":
        return {"practice": data} if post.get("practice_enabled") == "on" else {}
    if name == "completion":
        return {"completion": data} if data else {}
    if name == "design":
        data["pairs"] = [value.split("|", 1) for value in post.getlist("pairs") if "|" in value]
    return data


def _pair_choices(document, pairs):
    """Checkboxes for the pairs: the chosen ones as written, then every other pair of arms."""
    pairs = [list(pair) for pair in (pairs or []) if isinstance(pair, list)]
    names = [arm.get("name") for arm in document.get("arms") or [] if isinstance(arm, dict) and arm.get("name")]
    choices = [("|".join(map(str, pair)), " vs ".join(map(str, pair)), True) for pair in pairs]
    chosen = {frozenset(map(str, pair)) for pair in pairs}
    for index, first in enumerate(names):
        for second in names[index + 1:]:
            if frozenset((first, second)) not in chosen:
                choices.append((f"{first}|{second}", f"{first} vs {second}", False))
    return choices


def _list_items(name, document, problems):
    rows = []
    for index, item in enumerate(document.get(name) or []):
        item = item if isinstance(item, dict) else {}
        prefix = f"{name}[{index}]"
        count = sum(1 for path, _ in problems if path == prefix or path.startswith((prefix + ".", prefix + "[")))
        summary = item.get("label") or item.get("text") or ""
        if name == "arms":
            summary = f"{item.get('kind', kinds.DEFAULT_KIND)} · {summary}"
            if item.get("preset"):
                summary += f" · preset {item['preset']}"
        rows.append({"index": index, "name": item.get("name", f"#{index + 1}"), "summary": str(summary)[:140],
                     "problems": count, "source": item.get("source", "")})
    return rows


def _list_or_404(name):
    current = _section_or_404(name)
    if not current.is_list:
        raise Http404("Not a list section.")
    return current


@login_required
@require_http_methods(["GET", "POST"])
def item(request, code, name, index=None):
    """One item of a list section (an arm, a prompt, a question, an attention check), new or edited."""
    study = get_study_for_user(request.user, code, write=True)
    current = _list_or_404(name)
    context = _builder_context(request, study, current)
    items = list(context["document"].get(name) or [])
    if index is not None and not 0 <= index < len(items):
        raise Http404("No such item.")
    if name == "arms" and index is None and (request.GET.get("from") == "preset" or "preset_pick" in request.POST):
        return _preset_picker(request, study, context, items)
    if index is None:
        kind = request.GET.get("kind") or request.POST.get("kind") or kinds.DEFAULT_KIND
        if name == "arms" and kind not in kinds.names():
            raise Http404("No such arm kind.")
        data = {"kind": kind} if name == "arms" else {}
        if name == "arms" and request.GET.get("preset") in PRESETS:
            data = drafts.preset_arm(request.GET["preset"])
        position = len(items)
    else:
        data, position = dict(items[index]), index
        if name == "arms" and request.method == "GET" and request.GET.get("preset") in PRESETS and not context["frozen"]:
            data = refilled_arm(data, request.GET["preset"])  # shown to check, saved only by Save
    specs = forms.item_fields(name, data)
    item_path = f"{name}[{position}]"
    problems = [(path, message) for path, message in context["grouped"].get(name, [])
                if path == item_path or path.startswith((item_path + ".", item_path + "["))] if index is not None else []
    if request.method == "POST":
        posted = forms.parse(specs, request.POST)
        if name == "arms":
            posted["kind"] = data.get("kind", kinds.DEFAULT_KIND)
            posted = {key: posted[key] for key in ("name", "label", "source", "kind") if key in posted} | posted
        updated = items[:position] + [posted] + items[position + 1:]
        result = build.save_section(study, request.user, name, {"items": updated}, item_path=item_path,
                                    detail=f"saved {name} item '{posted.get('name', position + 1)}'")
        renamed = name == "arms" and index is not None and items[index].get("name") != posted.get("name")
        if result.saved and renamed and not build.frozen(study, "design"):
            # Pairs naming the arm follow it.
            document = drafts.rename_arm(build.draft_of(study).document, items[index].get("name"), posted.get("name"))
            result = build.save_section(study, request.user, "design", drafts.section_data(document, "design"),
                                        item_path="\0", detail=f"pairs follow arm '{posted.get('name')}'")
        if result.saved:
            return _saved(request, study, result, reverse("web:builder_section", args=[study.code, name]))
        data, problems = posted, result.section_problems
    forms.bind(specs, data)
    context.update({
        "fields": specs, "other_errors": forms.attach_errors(specs, problems, item_path), "index": index,
        "kind": data.get("kind", kinds.DEFAULT_KIND) if name == "arms" else "",
        "preset": preset_card(data.get("preset")) if name == "arms" and data.get("preset") else None,
        "presets": preset_cards() if name == "arms" else None,
        "refill": refill_context(request, specs, index, context["frozen"]) if name == "arms" else None,
    })
    return render(request, "builder/item.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def item_change(request, code, name, index, change):
    """Delete an item or move it up or down (never blocked: problems it causes show where they are)."""
    study = get_study_for_user(request.user, code, write=True)
    _list_or_404(name)
    items = list(build.draft_of(study).document.get(name) or [])
    if not 0 <= index < len(items) or change not in ("delete", "up", "down"):
        raise Http404("No such item.")
    label = items[index].get("name", index + 1) if isinstance(items[index], dict) else index + 1
    if change == "delete":
        del items[index]
    else:
        other = index - 1 if change == "up" else index + 1
        if 0 <= other < len(items):
            items[index], items[other] = items[other], items[index]
    result = build.save_section(study, request.user, name, {"items": items}, item_path="\0",
                                detail=f"{change} {name} item '{label}'")
    if not result.saved:
        messages.error(request, "; ".join(message for _path, message in result.section_problems))
        return redirect("web:builder_section", code=study.code, name=name)
    return _saved(request, study, result, reverse("web:builder_section", args=[study.code, name]))


def _preset_picker(request, study, context, items):
    """Add an arm from a preset: the presets with their sources, a name, and the arm saved as the
    preset's values (validated like any arm)."""
    specs = [spec for spec in forms.arm_fields(kinds.DEFAULT_KIND) if spec.name == "name"]
    picked = request.POST.get("preset_pick", "")
    pick_error, problems = "", []
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if picked not in PRESETS:
            pick_error = "Choose a preset."
            specs[0].value = name
        else:
            item_path = f"arms[{len(items)}]"
            arm = drafts.preset_arm(picked, name or picked)
            result = build.save_section(study, request.user, "arms", {"items": [*items, arm]}, item_path=item_path,
                                        detail=f"added arm '{arm['name']}' from preset {picked}")
            if result.saved:
                return _saved(request, study, result, reverse("web:builder_section", args=[study.code, "arms"]))
            problems = result.section_problems
            specs[0].value = name
        context["other_errors"] = forms.attach_errors(specs, problems, f"arms[{len(items)}]")
    specs[0].required = False
    specs[0].label = "Name (left empty: the preset's name)"
    context.update({"fields": specs, "presets": preset_cards(), "picked": picked, "pick_error": pick_error})
    return render(request, "builder/preset_picker.html", context, status=400 if request.method == "POST" else 200)
