"""The researcher's way in: the first-run page after login (no studies yet: create, import or open
the demo) and importing a study file from the browser into one of your teams or a new one."""

import yaml
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from uxlab.studies.actions import teams as team_actions
from uxlab.studies.models import Study
from uxlab.studies.study_files import StudyFileError, import_study, parse_study_yaml, validate_study_data
from uxlab.studies.study_files.schema import MAX_FILE_CHARS
from uxlab.web.views_teams import team_choices

# The format's limit is in characters (schema.MAX_FILE_CHARS), which the parser counts and names; a
# character is at most four bytes of UTF-8, so no file within it is refused here first.
MAX_STUDY_FILE_BYTES = 4 * MAX_FILE_CHARS
DEMO_CODE = "demo"


def create_study_url():
    """The study builder's page when it exists (studies:create), else None."""
    for name in ("studies:create", "web:study_create"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


@login_required
def start(request):
    """Where login lands: your studies, or (none yet) a page offering the ways to get one."""
    if Study.objects.visible_to(request.user).exists():
        return redirect("web:study_list")
    demo = Study.objects.filter(code=DEMO_CODE).first()
    context = {
        "create_url": create_study_url(),
        "demo_link": request.build_absolute_uri(reverse("web:study_entry", args=[DEMO_CODE])) if demo and demo.is_open else None,
        "teams": team_choices(request.user),
    }
    return render(request, "workspace/start.html", context)


def study_file_text(request):
    """The uploaded file's (or the pasted) text; a list of errors instead when it cannot be read."""
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > MAX_STUDY_FILE_BYTES:
            return None, [f"file: larger than {MAX_STUDY_FILE_BYTES:,} bytes (a study file is at most {MAX_FILE_CHARS:,} characters)"]
        try:
            return upload.read().decode("utf-8"), []
        except UnicodeDecodeError:
            return None, ["file: is not UTF-8 text"]
    text = request.POST.get("text", "")
    if not text.strip():
        return None, ["Choose a study file or paste its YAML."]
    if len(text.encode()) > MAX_STUDY_FILE_BYTES:
        return None, [f"text: larger than {MAX_STUDY_FILE_BYTES:,} bytes (a study file is at most {MAX_FILE_CHARS:,} characters)"]
    return text, []


@login_required
@require_http_methods(["GET", "POST"])
def import_study_page(request):
    """Upload (or paste) a study YAML into a team you own or edit, or a new team you will own;
    it becomes a draft, under the file's code or the one given. Every problem in the file is
    listed with its path."""
    teams = list(team_choices(request.user))
    context = {"teams": teams, "errors": [], "selected": request.GET.get("team", ""), "text": "", "new_team": "", "code": ""}
    if request.method == "GET":
        return render(request, "workspace/import.html", context)
    selected = request.POST.get("team", "")
    new_team = request.POST.get("new_team", "").strip()
    code = request.POST.get("code", "").strip()
    context.update(selected=selected, new_team=new_team, text=request.POST.get("text", ""), code=code)
    text, errors = study_file_text(request)
    if not errors and selected == "" and not new_team:
        errors = ["Choose one of your teams or name a new one."]
    if selected and selected not in {team.slug for team in teams}:
        # The same answer whether the team exists or not, so team names cannot be probed.
        context["errors"] = ["You can import only into a team you own or edit (or a new one); nothing was imported."]
        return render(request, "workspace/import.html", context, status=403)
    if not errors:
        try:
            definition = parse_study_yaml(text)  # every problem of the file as it is, with its path
            if code:
                definition = validate_study_data({**yaml.safe_load(text), "code": code})
            with transaction.atomic():
                if selected:
                    team = team_actions.team_for_import(request.user, selected)
                else:
                    team = team_actions.create_team(request.user, new_team)
                study = import_study(definition, team=team)
        except StudyFileError as invalid:
            errors = [f"{error} (give another code below)" if error.startswith("code: a study with code") else error
                      for error in invalid.errors]
        except team_actions.TeamActionRefused as refused:
            context["errors"] = [refused.message]
            return render(request, "workspace/import.html", context, status=403 if refused.code != "bad_name" else 400)
        else:
            return redirect("web:study_detail", code=study.code)
    context["errors"] = errors
    return render(request, "workspace/import.html", context, status=400)
