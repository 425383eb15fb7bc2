from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from tre.permissions import ROLE_DESCRIPTIONS, STEWARD_GRANTED_ROLES, Role
from workspaces.models import DATASET_NAME_HELP, Classification


class RolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, roles=tuple(Role), **kwargs):
        super().__init__(
            choices=[(role.value, role.label) for role in roles],
            help_text=" ".join(f"{role.label}: {ROLE_DESCRIPTIONS[role]}" for role in Role),
            error_messages={"required": "Choose at least one role."},
            **kwargs,
        )


def grantable_roles(may_grant_checkers: bool) -> list[Role]:
    """The roles this person may set on the members page (tre.permissions)."""
    return [role for role in Role if may_grant_checkers or role not in STEWARD_GRANTED_ROLES]


class AddMemberForm(forms.Form):
    user = forms.CharField(label="Username or e-mail address", max_length=254)
    roles = RolesField()

    def __init__(self, *args, roles=tuple(Role), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"] = RolesField(roles=roles)

    def clean_user(self):
        value = self.cleaned_data["user"].strip()
        users = get_user_model().objects.filter(
            Q(username__iexact=value) | Q(email__iexact=value), is_active=True
        )
        if len(users) != 1:
            raise forms.ValidationError("No single active account has that username or e-mail.")
        return users[0]


class MemberRolesForm(forms.Form):
    roles = RolesField()

    def __init__(self, *args, roles=tuple(Role), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"] = RolesField(roles=roles)


class DatasetFileField(forms.FileField):
    """A file received by workspaces.uploads.EncryptingUploadHandler."""

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload is not None and getattr(upload, "too_large", False):
            from django.conf import settings

            limit = settings.TRE_MAX_UPLOAD_BYTES / 1024**2
            raise forms.ValidationError(f"The file is larger than the limit of {limit:,.0f} MB.")
        return upload


ENCODING_CHOICES = [
    ("utf-8", "UTF-8 (most files)"),
    ("cp1252", "Windows-1252 (older Excel exports)"),
    ("latin-1", "ISO-8859-1 (Latin-1)"),
]


class DatasetUploadForm(forms.Form):
    file = DatasetFileField(
        label="CSV or Parquet file",
        help_text="Any common delimiter is detected. Values are never shown, not even to you.",
    )
    name = forms.CharField(max_length=64, help_text=DATASET_NAME_HELP)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    classification = forms.ChoiceField(
        choices=Classification.choices, initial=Classification.CONFIDENTIAL
    )
    encoding = forms.ChoiceField(
        choices=ENCODING_CHOICES,
        initial="utf-8",
        help_text="For CSV files; Parquet carries its own.",
    )


class VersionUploadForm(forms.Form):
    file = DatasetFileField(label="CSV or Parquet file for the new version")
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, initial="utf-8")


class DatasetSettingsForm(forms.Form):
    classification = forms.ChoiceField(choices=Classification.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Why the classification changes",
        help_text="Needed when the classification changes; recorded in the audit trail.",
    )


class EraseForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Recorded in the audit trail.")
    confirm = forms.BooleanField(
        label="I understand this destroys the data for good: it cannot be recovered."
    )
