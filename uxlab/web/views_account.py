"""The researcher's own account: API tokens for the read-only API (docs/api.md)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from uxlab.studies.api_tokens import create_api_token, revoke_api_token


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    secret = None
    if request.method == "POST":
        _token, secret = create_api_token(request.user, request.POST.get("name", "").strip())
    tokens = request.user.api_tokens.all()
    return render(request, "account/api_tokens.html", {"tokens": tokens, "secret": secret})


@login_required
@require_POST
def revoke_token(request, token_id):
    if not revoke_api_token(request.user, token_id):
        raise Http404("No such token.")
    messages.info(request, "Token revoked.")
    return redirect("web:api_tokens")
