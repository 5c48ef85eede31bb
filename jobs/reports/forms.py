from django import forms

from jobs.models import GenePanelVersion
from jobs.reports.services import MEANING


class ReauthFields(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               required=False, label="Your password")
    code = forms.CharField(required=False, max_length=12, label="or a code from your authenticator app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "inputmode": "numeric"}))

    def clean(self):
        data = super().clean()
        if not data.get("password") and not data.get("code", "").strip():
            raise forms.ValidationError("Re-enter your password (or an authenticator code) to sign.")
        return data


class SignOutForm(ReauthFields):
    # The draft on the manager's screen: signing is refused when it is no longer the current one.
    draft_sha256 = forms.RegexField(r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=f"I confirm the meaning of my signature: “{MEANING}”.",
        error_messages={"required": "Tick the box to confirm the meaning of your signature "
                                    f"(“{MEANING}”)."})
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                              max_length=2000, label="Comment (optional, printed on the report)")
    field_order = ["confirm", "comment", "password", "code"]


class AmendForm(forms.Form):
    interpretation = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=10000,
                                     label="Interpretation (replaces the current one)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                             label="Reason for the amendment")


class DraftForm(forms.Form):
    result_summary = forms.CharField(
        required=False, max_length=500, label="Result (page 1)",
        help_text="One line, e.g. “Likely pathogenic variant in SIM3, consistent with the "
                  "phenotype”. Left empty, it is written from the selected variants.")
    panel_version = forms.ModelChoiceField(
        queryset=GenePanelVersion.objects.none(), required=False, label="Gene panel reviewed",
        empty_label="None (whole exome)",
        help_text="Named in the report, with its coverage at 20x.")
    interpretation = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False,
                                     max_length=10000, label="Interpretation")

    def __init__(self, *args, panels=None, **kwargs):
        super().__init__(*args, **kwargs)
        if panels is not None:
            self.fields["panel_version"].queryset = panels
