"""The one way researcher-facing code reaches study data: through team membership."""

from django.http import Http404

from uxlab.studies.models import Study


def get_study_for_user(user, code, write=False):
    """The study with this code if the user's team may see (or, with write, change) it; else 404.

    Outsiders get the same 404 as for a code that does not exist, so codes cannot be probed.
    """
    studies = Study.objects.writable_by(user) if write else Study.objects.visible_to(user)
    try:
        return studies.select_related("team").get(code=code)
    except Study.DoesNotExist:
        raise Http404("No such study.") from None


def can_write(user, study):
    """Whether the user may change the study (an owner or editor of its team), for showing controls."""
    return Study.objects.writable_by(user).filter(pk=study.pk).exists()


def is_study_owner(user, study):
    """Whether the user owns the study's team (owners alone may export panel ids)."""
    from uxlab.studies.models import Membership

    return user.is_authenticated and Membership.objects.filter(
        team_id=study.team_id, user=user, role=Membership.Role.OWNER
    ).exists()


def get_team_for_user(user, slug):
    """The team with this slug if the user is a member (with `role` set to theirs); else 404, the
    same as for a team that does not exist."""
    from uxlab.studies.models import Membership

    membership = (
        Membership.objects.select_related("team").filter(team__slug=slug, user=user).first()
        if user.is_authenticated else None
    )
    if membership is None:
        raise Http404("No such team.")
    team = membership.team
    team.role = membership.role
    return team
