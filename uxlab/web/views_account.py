"""The researcher's own account: API tokens for the read-only API (docs/api.md)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from uxlab.studies.api_tokens import create_api_token, revoke_api_token
from uxlab.studies.models import Study, Team

LIFETIMES = (30, 90, 365)


def scope_choices(user):
    """(value, label) for every scope the user may give a token: all teams, a team, a study."""
    teams = Team.objects.filter(memberships__user=user).order_by("name")
    studies = Study.objects.visible_to(user).order_by("code")
    return [("", "All my teams"), *((f"team:{t.slug}", f"Team {t.name}") for t in teams),
            *((f"study:{s.code}", f"Study {s.code}") for s in studies)]


def scope_from(user, value):
    """The (team, study) a submitted scope names, among those the user may choose; 404 otherwise."""
    kind, _, name = value.partition(":")
    if not value:
        return None, None
    if kind == "team":
        team = Team.objects.filter(memberships__user=user, slug=name).first()
        if team:
            return team, None
    if kind == "study":
        study = Study.objects.visible_to(user).filter(code=name).first()
        if study:
            return None, study
    raise Http404("No such scope.")


@never_cache  # the page that shows a new token must not be kept by any cache (Cache-Control: no-store)
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    secret = None
    if request.method == "POST":
        team, study = scope_from(request.user, request.POST.get("scope", ""))
        try:
            days = int(request.POST.get("days", "90"))
        except ValueError:
            days = 0
        if days not in LIFETIMES:
            raise Http404("No such lifetime.")
        _token, secret = create_api_token(
            request.user, request.POST.get("name", "").strip(), team=team, study=study, days=days
        )
    tokens = request.user.api_tokens.select_related("team", "study")
    context = {"tokens": tokens, "secret": secret, "scopes": scope_choices(request.user), "lifetimes": LIFETIMES}
    return render(request, "account/api_tokens.html", context)


@login_required
@require_POST
def revoke_token(request, token_id):
    if not revoke_api_token(request.user, token_id):
        raise Http404("No such token.")
    messages.info(request, "Token revoked.")
    return redirect("web:api_tokens")
