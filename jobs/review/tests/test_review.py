"""The review pages: classifying a variant (kept per lab, shown again in the lab's other samples),
selecting it for the report, gene panels and their versions, saved filters, and who may do any of
it."""

import re

import pytest

from jobs.models import Classification, FilterPreset, GenePanel, VariantSelection
from jobs.results.tests.test_variants import make_job, shown, tsv, url_of
from jobs.results.variant_table import load_variants
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(manager):
    job = make_job(manager)
    load_variants(job=job, lines=tsv())
    return job


def variant_url(job, variant_id, tail="", slug="lab-a"):
    variant = job.variants.get(variant_id=variant_id)
    return f"/labs/{slug}/jobs/{job.pk}/variants/{variant.pk}/{tail}"


def classify(client, job, variant_id, criteria=("PVS1", "PS3"), final_class="pathogenic",
             comment="", **strengths):
    data = {"final_class": final_class, "comment": comment}
    data.update({f"met_{code}": "on" for code in criteria})
    data.update({f"strength_{code}": strength for code, strength in strengths.items()})
    return client.post(variant_url(job, variant_id, "classify/"), data)


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_classification_records_the_criteria_and_the_class_they_give(client_for, manager, job):
    client = client_for(manager)
    response = classify(client, job, "V05", criteria=("PVS1", "PM2", "PP3"),
                        final_class="likely_pathogenic", comment="", PM2="supporting")
    # PVS1 with two supporting criteria (PM2 applied at supporting) is pathogenic by the 2015
    # rules, so a final class of likely pathogenic needs a reason.
    assert response.status_code == 400
    html = response.content.decode()
    assert ("The criteria suggest pathogenic; the final class (likely pathogenic) differs from "
            "it: say why in the comment.") in html
    assert 'data-suggested="Pathogenic"' in html, "the suggestion of the criteria sent"
    assert not Classification.objects.exists()

    response = classify(client, job, "V05", criteria=("PVS1", "PM2", "PP3"),
                        final_class="likely_pathogenic", PM2="supporting",
                        comment="Functional data in the lab's file.")
    assert response.status_code == 302
    (row,) = Classification.objects.all()
    assert row.criteria == {"PVS1": "very_strong", "PM2": "supporting", "PP3": "supporting"}
    assert (row.suggested_class, row.final_class) == ("pathogenic", "likely_pathogenic")
    assert (row.chrom, row.pos, row.ref, row.alt, row.gene) == ("chrX", 700, "A", "T", "DMD")
    (event,) = events(audit_actions.VARIANT_CLASSIFIED)
    assert event.phi_accessed and event.lab_id == job.lab_id
    assert event.details["criteria"] == row.criteria
    assert event.details["final_class"] == "likely_pathogenic"
    page = client.get(variant_url(job, "V05")).content.decode()
    assert 'data-current-class="likely_pathogenic"' in page and "Functional data" in page


def test_the_suggestion_follows_the_criteria_as_they_are_ticked(client_for, manager, job):
    client = client_for(manager)
    url = variant_url(job, "V01", "classify/suggest/")
    assert 'data-suggested="Uncertain significance"' in client.get(url).content.decode()
    answer = client.get(url + "?met_PVS1=on&met_PM2=on").content.decode()
    assert 'data-suggested="Likely pathogenic"' in answer
    answer = client.get(url + "?met_PVS1=on&met_PM2=on&strength_PM2=supporting&met_PP3=on")
    assert 'data-suggested="Pathogenic"' in answer.content.decode()
    answer = client.get(url + "?met_BA1=on&strength_BA1=moderate").content.decode()
    assert "BA1 is a benign criterion" in answer
    page = client.get(variant_url(job, "V01")).content.decode()
    assert '<option value="" selected>— choose —</option>' in page, "no class chosen for them"


def test_a_criterion_at_a_strength_it_cannot_have_is_refused(client_for, manager, job):
    response = classify(client_for(manager), job, "V01", criteria=("BA1",), BA1="moderate",
                        final_class="benign")
    assert response.status_code == 400
    assert not Classification.objects.exists()


def test_the_labs_earlier_classification_shows_in_its_other_samples_only(
        client_for, manager, outsider, job):
    client = client_for(manager)
    assert classify(client, job, "V01", criteria=("PVS1", "PS3")).status_code == 302
    assert classify(client, job, "V01", criteria=("PM2", "PP3"), final_class="uncertain"
                    ).status_code == 302
    second = make_job(manager, "S2")
    load_variants(job=second, lines=tsv().copy()[:1] + [
        line.replace("\tS1\t", "\tS2\t") for line in tsv()[1:]])
    html = client.get(url_of(second) + "?max_af_pct=").content.decode()
    badges = re.findall(r'data-class="([^"]+)"', html)
    assert badges == ["uncertain"], "the newest classification of the same variant"
    page = client.get(variant_url(second, "V01")).content.decode()
    assert page.count("<td>S1</td>") == 2, "the history names the sample it was classified in"

    theirs = make_job(outsider, "B1")
    load_variants(job=theirs, lines=tsv().copy()[:1] + [
        line.replace("\tS1\t", "\tB1\t") for line in tsv()[1:]])
    other = client_for(outsider).get(url_of(theirs, slug="lab-b") + "?max_af_pct=")
    assert len(shown(other)) == 10 and "data-class=" not in other.content.decode()


def test_selection_needs_a_classification_and_the_labs_policy_for_secondary_findings(
        client_for, manager, job):
    client = client_for(manager)
    response = client.post(variant_url(job, "V10", "select/"), {"category": "primary"})
    assert response.status_code == 400
    assert "Classify the variant before putting it in the report." in response.content.decode()
    classify(client, job, "V10")
    response = client.post(variant_url(job, "V10", "select/"), {"category": "secondary"})
    assert response.status_code == 400
    assert "does not report secondary findings" in response.content.decode()
    job.lab.reports_secondary_findings = True
    job.lab.save()
    assert client.post(variant_url(job, "V10", "select/"),
                       {"category": "secondary"}).status_code == 302
    assert client.post(variant_url(job, "V10", "select/"),
                       {"category": "primary"}).status_code == 302
    (chosen,) = VariantSelection.objects.all()
    assert (chosen.variant.variant_id, chosen.category) == ("V10", "primary")
    html = client.get(url_of(job)).content.decode()
    assert 'data-selected="primary"' in html and 'data-selected-count="1"' in html
    assert client.post(variant_url(job, "V10", "select/"), {"category": ""}).status_code == 302
    assert not VariantSelection.objects.exists()
    assert [e.details["category"] for e in events(audit_actions.VARIANT_SELECTED)] == [
        "secondary", "primary"]
    assert len(events(audit_actions.VARIANT_DESELECTED)) == 1


def test_a_panel_keeps_every_version_and_refuses_what_is_not_a_change(client_for, manager):
    client = client_for(manager)
    response = client.post("/labs/lab-a/panels/", {"name": "Cardiomyopathy",
                                                   "genes": "MYH7, TTN\nLMNA  TTN"})
    assert response.status_code == 302
    panel = GenePanel.objects.get()
    assert panel.latest_version().genes == ["LMNA", "MYH7", "TTN"]
    url = f"/labs/lab-a/panels/{panel.pk}/"
    same = client.post(url, {"genes": "TTN LMNA MYH7", "note": "reordered"})
    assert same.status_code == 400 and "Version 1 already has exactly these genes." in \
        same.content.decode()
    assert client.post(url, {"genes": "TTN LMNA MYH7 FLNC", "note": "FLNC added"}
                       ).status_code == 302
    assert [(v.version, v.genes) for v in panel.versions.order_by("version")] == [
        (1, ["LMNA", "MYH7", "TTN"]), (2, ["FLNC", "LMNA", "MYH7", "TTN"])]
    twice = client.post("/labs/lab-a/panels/", {"name": "Cardiomyopathy", "genes": "TTN"})
    assert twice.status_code == 400
    assert "already has a panel named" in twice.content.decode()
    (created,) = events(audit_actions.PANEL_CREATED)
    (changed,) = events(audit_actions.PANEL_VERSION_CREATED)
    assert changed.details["added"] == ["FLNC"] and changed.details["removed"] == []
    assert created.details["genes"] == 3


def test_a_panel_with_a_symbol_that_is_not_one_is_refused(client_for, manager):
    response = client_for(manager).post("/labs/lab-a/panels/",
                                        {"name": "Bad", "genes": "TTN <script>"})
    assert response.status_code == 400
    assert "Not gene symbols: &lt;script&gt;" in response.content.decode()
    assert not GenePanel.objects.exists()


def test_saved_filters_are_the_labs_and_keep_only_filter_fields(client_for, manager, job):
    client = client_for(manager)
    response = client.post("/labs/lab-a/presets/", {
        "name": "Rare pathogenic", "next": url_of(job),
        "query": "max_af_pct=0.1&clinvar=pathogenic&page=4&sort=-qual&evil=1"})
    assert response.status_code == 302 and response.url == url_of(job)
    (preset,) = FilterPreset.objects.all()
    assert preset.query == "clinvar=pathogenic&max_af_pct=0.1"
    html = client.get(url_of(job)).content.decode()
    assert f'href="{url_of(job)}?clinvar=pathogenic&amp;max_af_pct=0.1" ' \
           'data-preset="Rare pathogenic"' in html
    assert shown(client.get(url_of(job) + "?" + preset.query)) == ["V01", "V10", "V05"]
    client.post("/labs/lab-a/presets/", {"name": "Rare pathogenic", "query": "two_hits=on"})
    assert FilterPreset.objects.get().query == "two_hits=on", "the same name replaces it"
    assert client.post(f"/labs/lab-a/presets/{preset.pk}/delete/").status_code == 302
    assert not FilterPreset.objects.exists()
    assert len(events(audit_actions.FILTER_PRESET_SAVED)) == 2
    assert len(events(audit_actions.FILTER_PRESET_DELETED)) == 1


def test_only_the_labs_managers_reach_the_review(client_for, clinician, outsider, manager, job):
    panel = GenePanel.objects.create(lab=job.lab, name="Ours")
    preset = FilterPreset.objects.create(lab=job.lab, name="Ours", query="two_hits=on")
    urls = [("get", variant_url(job, "V01")), ("post", variant_url(job, "V01", "classify/")),
            ("post", variant_url(job, "V01", "select/")), ("get", "/labs/lab-a/panels/"),
            ("get", f"/labs/lab-a/panels/{panel.pk}/"), ("post", "/labs/lab-a/presets/"),
            ("post", f"/labs/lab-a/presets/{preset.pk}/delete/")]
    for method, url in urls:
        assert getattr(client_for(clinician), method)(url).status_code == 403, url
        assert getattr(client_for(outsider), method)(url).status_code == 404, url
    # Lab B's own address for lab A's objects: not found either.
    outsider_client = client_for(outsider)
    assert outsider_client.get(f"/labs/lab-b/panels/{panel.pk}/").status_code == 404
    assert outsider_client.post(f"/labs/lab-b/presets/{preset.pk}/delete/").status_code == 404
    assert outsider_client.get(variant_url(job, "V01", slug="lab-b")).status_code == 404
    assert FilterPreset.objects.filter(pk=preset.pk).exists()
    assert not Classification.objects.exists()


def test_the_hpo_terms_of_the_sample_suggest_a_panel(client_for, manager, pipeline_env):
    job = make_job(manager)
    load_variants(job=job, lines=tsv())
    job.sample.hpo_terms = ["HP:0001250", "HP:9999999"]
    job.sample.save()
    html = client_for(manager).get(url_of(job)).content.decode()
    genes = sorted({line.split("\t")[3] for line in
                    (pipeline_env / "phenotype_to_genes.txt").read_text().splitlines()[1:]
                    if line.startswith("HP:0001250\t")})
    assert genes and "data-hpo-suggestion" in html
    assert f"suggest {len(genes)} gene" in html
    assert f'name="genes" value="{" ".join(genes)}"' in html


def test_panel_symbols_are_hgnc_spelled_and_names_unique_whatever_the_case(client_for, manager,
                                                                          job):
    client = client_for(manager)
    assert client.post("/labs/lab-a/panels/", {"name": "Breast", "genes": "brca1 c1ORF112 Tp53"}
                       ).status_code == 302
    version = GenePanel.objects.get().latest_version()
    assert version.genes == ["BRCA1", "C1orf112", "TP53"]
    assert shown(client.get(url_of(job) + f"?max_af_pct=&panel={version.pk}")) == [
        "V01", "V02", "V03", "V04"]
    again = client.post("/labs/lab-a/panels/", {"name": "breast", "genes": "ATM"})
    assert again.status_code == 400 and "already has a panel named" in again.content.decode()


def test_the_viewer_is_never_cached_and_varies_on_htmx(client_for, manager, job):
    client = client_for(manager)
    full = client.get(url_of(job) + "?clinvar=pathogenic")
    partial = client.get(url_of(job) + "?clinvar=pathogenic", HTTP_HX_REQUEST="true")
    for response in (full, partial):
        assert "no-store" in response["Cache-Control"]
        assert "HX-Request" in response["Vary"]
    # The preset form's hidden fields follow the filters the htmx swap applied.
    html = partial.content.decode()
    assert 'id="preset-fields" hx-swap-oob="true"' in html
    assert 'name="query" value="clinvar=pathogenic"' in html


def test_a_page_finds_only_the_classifications_of_its_own_sites(manager, job):
    """One query for the page's sites; a classification at the same position on another
    chromosome, or with another allele, belongs to another variant."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.review.classification import classify, current_classifications, site_key

    rows = list(job.variants.order_by("id")[:2])
    first, second = rows
    classify(membership=manager, variant=first, criteria={"PVS1": "very_strong", "PS3": "strong"},
             final_class="pathogenic", comment="")
    lookalikes = [dict(chrom="chrZ", pos=first.pos, ref=first.ref, alt=first.alt),
                  dict(chrom=second.chrom, pos=second.pos, ref=second.ref, alt=second.alt + "T")]
    for site in lookalikes:
        Classification.objects.create(lab=manager.lab, **site, gene="X", criteria={},
                                      suggested_class="benign", final_class="benign",
                                      job=job, classified_by=manager.user)
    with CaptureQueriesContext(connection) as queries:
        found = current_classifications(manager.lab, rows)
    assert len(queries) == 1
    assert {key: c.final_class for key, c in found.items()} == {site_key(first): "pathogenic"}
