from django import forms

from tenants.models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address",
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CLINICIAN)
