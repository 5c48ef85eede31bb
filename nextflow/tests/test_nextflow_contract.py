"""The Nextflow side, checked without Nextflow: reftrace parses main.nf, the modules and the
configs; the processes match the local runner's step list; config, schema and runner agree."""

import json
import os
import re
import shutil

import pytest

from nfsupport import BIN, PIPELINE, TRACE_HEADER, run, steps

reftrace = pytest.importorskip("reftrace")

PROFILES = ["standard", "s3", "slurm", "k8s", "gatk", "test"]
LABELS = ["process_single", "process_low", "process_medium", "process_high"]


def parse(path):
    module = reftrace.Module.from_file(str(path))
    assert not isinstance(module, reftrace.ParseError), module.error
    return module


def test_it_parses_main_and_modules_with_reftrace():
    result = reftrace.parse_modules(str(PIPELINE))
    assert result.errors == []
    assert result.unresolved_includes == []
    paths = {os.path.relpath(m.path, PIPELINE) for m in result.results}
    assert paths == {"main.nf"} | {s["module"] for s in steps()}
    assert parse(PIPELINE / "main.nf").dsl_version == 2


def test_it_lists_the_same_processes_as_the_local_runner():
    main = parse(PIPELINE / "main.nf")
    included = [(inc.from_module, item.name) for inc in main.includes for item in inc.items]
    assert included == [("./" + s["module"][:-3], s["process"]) for s in steps()]
    for step in steps():
        module = parse(PIPELINE / step["module"])
        assert [p.name for p in module.processes] == [step["process"]]
        process = module.processes[0]
        assert process.first_label.value == step["label"]
        assert process.first_tag is not None            # names like "FASTP_QC (S)"
        text = (PIPELINE / step["module"]).read_text()
        assert re.search(rf"^\s*{re.escape(step['script'])} ", text, re.M), step
    # the workflow calls them in the same order
    body = (PIPELINE / "main.nf").read_text().split("workflow {", 1)[1]
    calls = re.findall(r"^\s*([A-Z][A-Z_]+)\(", body, re.M)
    assert calls == [s["process"] for s in steps()]


def test_it_uses_the_step_order_in_the_local_runner():
    res = run([BIN / "run-local", "--help"])
    assert res.returncode == 0
    runner = (BIN / "run-local").read_text()
    keys = re.findall(r'^        "([A-Z_]+)": dict\(', runner, re.M)
    assert keys == [s["process"] for s in steps()]
    for step in steps():
        assert (BIN / step["script"]).stat().st_mode & 0o111, step["script"]


@pytest.mark.parametrize("good, bad", [
    ("    FASTP_QC(reads)\n", "    FASTP_QC(reads\n"),            # unclosed call
    ("workflow {\n", "workflow {{\n"),                              # unbalanced braces
    ("include { FASTP_QC        } from", "include { FASTP_QC        from"),
])
def test_it_rejects_a_syntax_error_in_main_nf(tmp_path, good, bad):
    shutil.copytree(PIPELINE / "modules", tmp_path / "modules")
    text = (PIPELINE / "main.nf").read_text()
    assert text.count(good) == 1
    (tmp_path / "main.nf").write_text(text.replace(good, bad))
    result = reftrace.Module.from_file(str(tmp_path / "main.nf"))
    assert isinstance(result, reftrace.ParseError), bad
    assert "parsing failed" in result.error
    listing = reftrace.parse_modules(str(tmp_path))
    assert [os.path.relpath(e.path, tmp_path) for e in listing.errors] == ["main.nf"]
    assert len(listing.results) == len(steps())                       # the modules still parse


def test_it_parses_the_configs_with_reftrace():
    for path in [PIPELINE / "nextflow.config", *sorted((PIPELINE / "conf").glob("*.config"))]:
        result = reftrace.ConfigFile.from_file(str(path))
        assert result.error is None, (path, result.error)
    config = reftrace.ConfigFile.from_file(str(PIPELINE / "nextflow.config")).config_file
    named = {s.name for scope in config.process_scopes for s in scope.named_scopes}
    assert "FASTP_QC" in named


def test_it_defines_profiles_labels_and_run_reports():
    text = (PIPELINE / "nextflow.config").read_text()
    for profile in PROFILES:
        assert re.search(rf"^\s*{profile}\s*{{\s*includeConfig 'conf/{profile}.config'\s*}}",
                         text, re.M), profile
        assert (PIPELINE / "conf" / f"{profile}.config").is_file()
    for label in LABELS:
        assert f"withLabel: {label}" in text
    fastp = re.search(r"withName: FASTP_QC\s*{\s*memory\s*=\s*{\s*(\d+)\.GB", text)
    assert fastp and int(fastp.group(1)) >= 2
    medium = re.search(r"withLabel: process_medium\s*{[^}]*memory\s*=\s*{\s*(\d+)\.GB", text)
    assert int(medium.group(1)) >= 2
    for scope in ("trace", "report", "timeline"):
        block = re.search(rf"^{scope} {{(.*?)^}}", text, re.M | re.S).group(1)
        assert re.search(r"enabled\s*=\s*true", block) and re.search(r"overwrite\s*=\s*true", block)
        assert '"${params.outdir}/pipeline_info/' in block
    s3 = (PIPELINE / "conf" / "s3.config").read_text()
    assert "s3PathStyleAccess = true" in s3 and "endpoint" in s3
    assert "process.executor = 'local'" in (PIPELINE / "conf" / "standard.config").read_text()


def test_it_asks_nextflow_for_the_trace_fields_the_local_runner_writes():
    """Both runners' traces carry each task's start and complete (the portal's step times), and
    no retry is asked for once the portal is stopping the run."""
    text = (PIPELINE / "nextflow.config").read_text()
    block = re.search(r"^trace {(.*?)^}", text, re.M | re.S).group(1)
    fields = re.search(r"fields\s*=\s*'([^']*)'", block).group(1).split(",")
    assert fields == TRACE_HEADER
    runner = (BIN / "run-local").read_text()
    listed = re.search(r"^TRACE_FIELDS = (\[.*?\])", runner, re.M | re.S).group(1)
    assert json.loads(listed) == TRACE_HEADER
    strategy = re.search(r"^\s*errorStrategy\s*=\s*{(.*)}\s*$", text, re.M).group(1)
    assert "System.getenv('WES_STOP_FILE')" in strategy and ".exists() ? 'retry'" in strategy


def config_params():
    text = (PIPELINE / "nextflow.config").read_text()
    block = re.search(r"^params {(.*?)^}", text, re.M | re.S).group(1)
    out = {}
    for name, value in re.findall(r"^\s*(\w+)\s*=\s*([^/\n]+?)\s*(?://.*)?$", block, re.M):
        out[name] = None if value == "null" else json.loads(value.replace("'", '"'))
    return out


def test_it_describes_every_param_in_the_schema():
    schema = json.loads((PIPELINE / "nextflow_schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    assert schema["type"] == "object"
    groups = schema["definitions"]
    assert [a["$ref"] for a in schema["allOf"]] == [f"#/definitions/{g}" for g in groups]
    props = {}
    for group in groups.values():
        assert group["type"] == "object" and group["title"] and group["properties"]
        props.update(group["properties"])
    assert groups["input_output_options"]["required"] == [
        "sample", "r1", "r2", "reference", "targets", "annotation", "outdir"]
    assert props["markdup"]["enum"] == ["samtools", "picard"]
    assert props["caller"]["enum"] == ["bcftools", "gatk"]
    params = config_params()
    assert set(props) == set(params)
    for name, spec in props.items():
        assert spec.get("type") in {"string", "number", "integer", "boolean"}, name
        assert spec.get("description"), name
        if params[name] is not None:
            assert spec.get("default") == params[name], name


def test_it_accepts_the_pipeline_params_in_the_local_runner():
    schema = json.loads((PIPELINE / "nextflow_schema.json").read_text())
    usage = run([BIN / "run-local", "--help"]).stdout
    for group in ("input_output_options", "pipeline_options", "annotation_options"):
        for name, spec in schema["definitions"][group]["properties"].items():
            assert f"--{name}" in usage, name
    runner = (BIN / "run-local").read_text()
    params = config_params()
    for name in ("markdup", "caller", "min_qual", "min_depth", "indel_gap", "min_mapq",
                 "min_baseq"):
        m = re.search(rf'"--{name}".*default=([^,)]+)', runner)
        assert m, name
        assert str(params[name]).strip("'") == m.group(1).strip('"'), name
    # QC thresholds: same names and defaults in the runner, and all passed to QC_SUMMARY
    module = (PIPELINE / "modules" / "qc_summary.nf").read_text()
    qc_params = schema["definitions"]["qc_options"]["properties"]
    assert len(qc_params) == 6
    for name in qc_params:
        m = re.search(rf"--{name} \S+, --{name.replace('_', '-')} \S+\s+\[([\d.]+)\]", usage)
        assert m, name
        assert float(m.group(1)) == params[name], name
        assert f"${{params.{name}}}" in module, name


ANNOTATION_PARAMS = ["snpeff_db", "canonical", "gnomad", "gnomad_version", "clinvar",
                     "clinvar_version"]


def test_it_wires_the_optional_annotation_sources_into_the_processes():
    """Each optional file is a path input that is [] when its param is not given (nothing staged,
    falsy in the script); the VCFs bring their .tbi as a second input; every param is recorded
    in metadata.json by both runners."""
    main = (PIPELINE / "main.nf").read_text()
    for name in ("snpeff_db", "canonical", "gnomad", "clinvar"):
        assert re.search(rf"params\.{name} \? file\(params\.{name}, checkIfExists: true\) : \[\]",
                         main), name
    for name in ("gnomad", "clinvar"):
        assert re.search(rf'params\.{name} \? file\("\$\{{params\.{name}\}}\.tbi", '
                         rf'checkIfExists: true\) : \[\]', main), name
    recorded = re.search(r"def recordedParams\(\) \{(.*?)\}", main, re.S).group(1)
    assert all(f"'{p}'" in recorded for p in ANNOTATION_PARAMS)
    assert "annotator" not in main and "snpeff_jar" not in main
    annotate = (PIPELINE / "modules" / "annotate.nf").read_text()
    inputs = re.findall(r"^\s*path (\w+)", annotate, re.M)
    assert inputs[-6:] == ["snpeff_db", "canonical", "gnomad", "gnomad_index", "clinvar",
                           "clinvar_index"]
    call = re.search(r"ANNOTATE\((.*?)\)\n", main, re.S).group(1)
    assert [a.strip() for a in call.split(",")][-6:] == [
        "snpeff_db", "canonical", "gnomad", "gnomad_idx", "clinvar", "clinvar_idx"]
    for option in ("--snpeff-db", "--canonical", "--gnomad", "--clinvar", "--memory"):
        assert option in annotate, option
    qc = (PIPELINE / "modules" / "qc_summary.nf").read_text()
    assert re.findall(r"^\s*path (\w+)", qc, re.M) == ["targets", "annotation", "canonical"]
    assert "gene_coverage.tsv" in qc and "--annotation ${annotation}" in qc
    assert "QC_SUMMARY(qc_inputs, targets, annotation, canonical)" in main
    meta = (PIPELINE / "modules" / "write_metadata.nf").read_text()
    for source in ("snpeff", "gnomad", "clinvar"):
        assert f"--source {source}=" in meta, source
    assert "params.gnomad_version" in meta and "params.clinvar_version" in meta
    runner = (BIN / "run-local").read_text()
    assert all(f'"{p}"' in runner for p in ANNOTATION_PARAMS)
