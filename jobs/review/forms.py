"""The review's forms: an ACMG/AMP classification, a selection, a gene panel, a filter preset."""

from django import forms

from jobs.models import ClinicalClass, SelectionCategory
from jobs.review import acmg

STRENGTH_LABELS = {acmg.VERY_STRONG: "Very strong", acmg.STRONG: "Strong",
                   acmg.MODERATE: "Moderate", acmg.SUPPORTING: "Supporting",
                   acmg.STAND_ALONE: "Stand-alone"}


class ClassificationForm(forms.Form):
    """One checkbox per criterion (`met_PVS1`) and its strength (`strength_PVS1`, its own when
    left as it is), the final class and a comment."""

    final_class = forms.ChoiceField(label="Final class",
                                    choices=[("", "— choose —")] + ClinicalClass.choices,
                                    error_messages={"required": "Choose the final class."})
    comment = forms.CharField(label="Comment", required=False, max_length=4000,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="Required when the final class is not the suggested one.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, (own, _text) in acmg.CRITERIA.items():
            strengths = acmg.PATHOGENIC_STRENGTHS if code.startswith("P") else acmg.BENIGN_STRENGTHS
            self.fields[f"met_{code}"] = forms.BooleanField(required=False, label=code)
            self.fields[f"strength_{code}"] = forms.ChoiceField(
                required=False, initial=own,
                choices=[(s, STRENGTH_LABELS[s]) for s in strengths])

    def criteria_given(self) -> dict[str, str]:
        """The criteria ticked in the submitted data, valid or not (for the live suggestion)."""
        return {code: self.data.get(f"strength_{code}") or acmg.CRITERIA[code][0]
                for code in acmg.CRITERIA if self.data.get(f"met_{code}")}

    def criteria(self) -> dict[str, str]:
        return {code: self.cleaned_data.get(f"strength_{code}") or acmg.CRITERIA[code][0]
                for code in acmg.CRITERIA if self.cleaned_data.get(f"met_{code}")}

    def rows(self):
        """(code, own strength, text, checkbox, strength select) in the paper's order."""
        for code, (own, text) in acmg.CRITERIA.items():
            yield {"code": code, "own": STRENGTH_LABELS[own], "text": text,
                   "met": self[f"met_{code}"], "strength": self[f"strength_{code}"],
                   "pathogenic": code.startswith("P")}


class SelectionForm(forms.Form):
    category = forms.ChoiceField(required=False,
                                 choices=[("", "Not reported")] + SelectionCategory.choices)


class PanelForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(label="Description", max_length=300, required=False)
    genes = forms.CharField(label="Genes", max_length=100_000,
                            widget=forms.Textarea(attrs={"rows": 6}),
                            help_text="HGNC symbols separated by commas, spaces or lines.")


class PanelVersionForm(forms.Form):
    genes = forms.CharField(label="Genes", max_length=100_000,
                            widget=forms.Textarea(attrs={"rows": 6}))
    note = forms.CharField(label="What changed", max_length=300)


class PresetForm(forms.Form):
    name = forms.CharField(label="Preset name", max_length=100)
    query = forms.CharField(max_length=4000, required=False, widget=forms.HiddenInput)
