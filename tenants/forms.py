from django import forms

from tenants.models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address",
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CLINICIAN)


class ApiTokenForm(forms.Form):
    """A new personal access token (tenants/api_tokens.py): which lab, a name, how long, what for."""
    lab = forms.ChoiceField(label="Lab")
    name = forms.CharField(max_length=100, help_text="Where it is used, e.g. “sequencer PC”.")
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=90, initial=30)
    scope = forms.ChoiceField(choices=[("read", "Read: samples, jobs, downloads"),
                                       ("upload", "Read and upload: also new samples, uploads, "
                                                  "submit")], initial="read")

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lab"].choices = [(m.lab.slug, m.lab.name) for m in memberships]
