"""The Django admin's site: operators (superusers) only. It is not team-scoped, so a researcher,
staff flag or not, is refused at its login and on every page (docs/deployment.md, "Accounts")."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

OPERATORS_ONLY = (
    "This admin is for the site's operators only. Researchers use the study pages: "
    "log in at /accounts/login/."
)


class OperatorAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise ValidationError(OPERATORS_ONLY, code="operators_only")


class OperatorAdminSite(admin.AdminSite):
    login_form = OperatorAuthenticationForm
    site_header = "uxlab operators"

    def has_permission(self, request):
        return request.user.is_active and request.user.is_superuser
