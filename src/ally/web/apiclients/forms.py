"""The form an administrator registers an API client with."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from ally.web.practice.models import Membership
from ally.web.scoping import ApiScope, Reach


class RegisterForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("The program that will call the API, e.g. “Records export”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("What it may do"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    reach = forms.ChoiceField(
        label=_("Which episodes it reaches"),
        choices=Reach.choices,
        initial=Reach.PRACTICE,
        widget=forms.RadioSelect,
        help_text=_(
            "One clinician's caseload reaches only that clinician's episodes and those whose "
            "care team they are in."
        ),
    )
    clinician = forms.ModelChoiceField(
        label=_("Clinician (for one caseload)"),
        queryset=Membership.objects.none(),
        required=False,
    )

    def __init__(self, *args: Any, clinicians: QuerySet[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["clinician"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = clinicians
        field.label_from_instance = lambda m: f"{m.user} ({m.get_role_display()})"
