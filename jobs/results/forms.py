"""The variant viewer's filter form (GET). Every value is checked here, so a hand-edited URL gives
a sentence saying what is wrong, never a server error or an unfiltered table."""

from django import forms

from jobs.models import GenePanelVersion, Impact
from jobs.results.variants import CLINVAR_GROUPS, DEFAULT_SORT, GENE_SYMBOL, GENOTYPES, SORTS

MAX_GENES = 100


class PanelVersionField(forms.ModelChoiceField):
    """A panel version of the lab by id: an id that is not one (malformed, another lab's, none)
    gets the same sentence."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid_choice"],
                                        code="invalid_choice") from None


class VariantFilterForm(forms.Form):
    gene = forms.CharField(
        label="Gene", required=False, max_length=2000,
        help_text="One symbol or several, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. BRCA1, TP53"}),
        error_messages={"max_length": "List at most %(limit_value)d characters of gene symbols."})
    consequence = forms.ChoiceField(label="Consequence", required=False)
    impact = forms.MultipleChoiceField(
        label="Impact", required=False, choices=Impact.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Impact %(value)s is not one of High, Moderate, Low, "
                                          "Modifier."})
    genotype = forms.ChoiceField(
        label="Genotype", required=False,
        choices=[("", "Any")] + [(k, label) for k, (label, _) in GENOTYPES.items()],
        error_messages={"invalid_choice": "Genotype %(value)s is not one of the listed "
                                          "genotypes."})
    min_depth = forms.IntegerField(
        label="Min. depth", required=False, min_value=0, max_value=10_000_000,
        error_messages={"invalid": "Minimum depth must be a whole number of reads.",
                        "min_value": "Minimum depth cannot be negative.",
                        "max_value": "Minimum depth must be at most %(limit_value)s reads."})
    min_qual = forms.FloatField(
        label="Min. quality", required=False, min_value=0, max_value=1_000_000,
        error_messages={"invalid": "Minimum quality must be a number, such as 30.",
                        "min_value": "Minimum quality cannot be negative.",
                        "max_value": "Minimum quality must be at most %(limit_value)s."})
    pass_only = forms.BooleanField(label="PASS only", required=False)
    max_af_pct = forms.FloatField(
        label="Max. population AF (%)", required=False, min_value=0, max_value=100,
        error_messages={"invalid": "Maximum population frequency must be a percentage, such as "
                                   "1 or 0.1.",
                        "min_value": "Maximum population frequency cannot be negative.",
                        "max_value": "Maximum population frequency is a percentage: at most 100."})
    clinvar = forms.MultipleChoiceField(
        label="ClinVar", required=False, choices=list(CLINVAR_GROUPS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "ClinVar %(value)s is not one of the listed groups."})
    panel = PanelVersionField(
        label="Gene panel", required=False, queryset=GenePanelVersion.objects.none(),
        error_messages={"invalid_choice": "That gene panel version is not one of this lab's."})
    two_hits = forms.BooleanField(label="Two hits in one gene, or homozygous", required=False)
    sort = forms.ChoiceField(
        required=False,
        choices=[(f"{d}{k}", f"{label} ({'descending' if d else 'ascending'})")
                 for k, label in SORTS.items() for d in ("", "-")],
        error_messages={"invalid_choice": "The table cannot be sorted by %(value)s; choose a "
                                          "column heading."})
    page = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000,
        error_messages={"invalid": "The page must be a whole number.",
                        "min_value": "Pages are numbered from 1.",
                        "max_value": "There is no such page."})

    def __init__(self, *args, consequences: list[str], panels=None, **kwargs):
        super().__init__(*args, **kwargs)
        if panels is not None:
            self.fields["panel"].queryset = panels
        field = self.fields["consequence"]
        field.choices = [("", "Any")] + [(c, c) for c in consequences]
        field.error_messages["invalid_choice"] = ("Consequence %(value)s does not occur in this "
                                                  "table; choose one from the list.")

    def clean_gene(self) -> list[str]:
        text = self.cleaned_data["gene"]
        genes = [g.strip() for g in text.split(",") if g.strip()]
        for gene in genes:
            if not GENE_SYMBOL.match(gene):
                raise forms.ValidationError(
                    f"“{gene[:64]}” is not a gene symbol (letters, digits, '.', '-' and '_'); "
                    "separate several symbols with commas.")
        if len(genes) > MAX_GENES:
            raise forms.ValidationError(f"List at most {MAX_GENES} genes at a time.")
        return list(dict.fromkeys(genes))

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or DEFAULT_SORT

    def error_summary(self) -> list[str]:
        """Every error as one sentence, the field's label first."""
        out = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else None
            for message in errors:
                out.append(f"{label}: {message}" if label else message)
        return out
