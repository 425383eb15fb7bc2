from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from tre.permissions import ROLE_DESCRIPTIONS, Role


class RolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(
            choices=[(role.value, role.label) for role in Role],
            help_text=" ".join(f"{role.label}: {ROLE_DESCRIPTIONS[role]}" for role in Role),
            error_messages={"required": "Choose at least one role."},
            **kwargs,
        )


class AddMemberForm(forms.Form):
    user = forms.CharField(label="Username or e-mail address", max_length=254)
    roles = RolesField()

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
