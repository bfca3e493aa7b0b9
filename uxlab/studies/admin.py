"""The Django admin: for operators (superusers) only, not researchers (admin_site.py,
docs/deployment.md). Arms are checked by their kind's settings, as a study file is, so the admin
cannot write what import refuses. Panel ids (ExternalIdentity) are not shown here at all: owners
download them from the study's results, audited."""

from django import forms
from django.contrib import admin
from pydantic import ValidationError

from uxlab.streaming import kinds
from uxlab.studies import models
from uxlab.studies.study_files.errors import format_validation_errors


class ArmAdminForm(forms.ModelForm):
    class Meta:
        model = models.Arm
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        kind, profile = cleaned.get("kind"), cleaned.get("profile")
        if kind and isinstance(profile, dict):
            try:
                kinds.get(kind).Settings.model_validate(profile)
            except ValidationError as exc:
                # Messages name the field and the rule, never the value (a pasted key stays out).
                self.add_error("profile", format_validation_errors(exc))
        elif kind and profile is not None:
            self.add_error("profile", "must be a JSON object")
        return cleaned


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role"]


class ArmInline(admin.StackedInline):
    model = models.Arm
    form = ArmAdminForm
    extra = 0


class PromptInline(admin.StackedInline):
    model = models.Prompt
    extra = 0


class QuestionInline(admin.TabularInline):
    model = models.Question
    extra = 0


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "code", "team", "status", "created_at"]
    list_filter = ["status", "team"]
    search_fields = ["title", "code"]
    inlines = [ArmInline, PromptInline, QuestionInline]


@admin.register(models.Arm)
class ArmAdmin(admin.ModelAdmin):
    form = ArmAdminForm
    list_display = ["name", "study", "kind", "label"]
    list_filter = ["kind"]


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["name", "study"]


@admin.register(models.Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["name", "study", "kind", "text"]


@admin.register(models.Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "status", "created_at", "consented_at", "completed_at", "withdrawn_at"]
    list_filter = ["status", "study"]
    readonly_fields = ["token"]
    # Withdrawal (deleting their data, audited) is done from the study's page, not by editing rows here.
    exclude = ["withdrawn_at", "withdrawn_by", "panel_id_erased_at"]


@admin.register(models.Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["participant", "index", "prompt", "arm_a", "arm_b", "status"]
    list_filter = ["status"]


@admin.register(models.Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["key", "participant", "trial", "question", "value", "response_ms", "stored_at"]


@admin.register(models.RatingConflict)
class RatingConflictAdmin(admin.ModelAdmin):
    list_display = ["key", "participant", "reason", "recorded_at"]


@admin.register(models.FailedTask)
class FailedTaskAdmin(admin.ModelAdmin):
    list_display = ["task_name", "study", "key", "attempts", "created_at"]
    list_filter = ["task_name", "study"]
    readonly_fields = ["task_name", "study", "key", "payload", "error", "attempts", "created_at"]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "study", "action", "detail", "participant_number", "user", "version"]
    list_filter = ["action", "study"]
    readonly_fields = ["study", "user", "action", "detail", "participant_number", "version", "data", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ExportAudit)
class ExportAuditAdmin(admin.ModelAdmin):
    list_display = ["created_at", "study", "user", "table", "format"]
    list_filter = ["study"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
