"""bin/step_hook: the test hooks both runners honour, because every task runs it first (each
module's script block under Nextflow, each .command.sh under run-local)."""

import re
import time

import pytest

from nfsupport import BIN, PIPELINE, run, steps


def hook(process, **env):
    return run([BIN / "step_hook", process], env={"WES_FAIL_STEP": "", "WES_STEP_DELAY": "", **env})


@pytest.mark.parametrize("setting, process, code", [
    ("CALL_VARIANTS:7", "CALL_VARIANTS", 7),
    ("CALL_VARIANTS", "CALL_VARIANTS", 3),
    ("CALL_VARIANTS:7", "WES:CALL_VARIANTS", 7),     # a Nextflow name inside a named workflow
    ("CALL_VARIANTS:7", "NORMALISE", 0),
    ("", "CALL_VARIANTS", 0),
])
def test_it_fails_the_named_step_only(setting, process, code):
    res = hook(process, WES_FAIL_STEP=setting)
    assert res.returncode == code, res.stderr
    if code:
        assert res.stderr.strip() == (f"step_hook: simulated failure in {process.split(':')[-1]} "
                                      f"(WES_FAIL_STEP={setting})")


@pytest.mark.parametrize("setting", ["CALL_VARIANTS:0", "CALL_VARIANTS:x", "CALL_VARIANTS:300"])
def test_it_refuses_a_bad_exit_code(setting):
    res = hook("NORMALISE", WES_FAIL_STEP=setting)
    assert res.returncode == 2 and "exit code must be 1-255" in res.stderr


def test_it_waits_before_the_step():
    started = time.monotonic()
    assert hook("FASTP_QC", WES_STEP_DELAY="0.6").returncode == 0
    assert time.monotonic() - started >= 0.6
    assert hook("FASTP_QC", WES_STEP_DELAY="soon").returncode == 2


def test_it_runs_first_in_every_module_and_nextflow_passes_its_variables():
    for step in steps():
        text = (PIPELINE / "modules" / f"{step['script']}.nf").read_text()
        script = text[text.index('"""') + 3:]
        assert script.lstrip("\n").splitlines()[0].strip() == "step_hook ${task.process}", step
    config = (PIPELINE / "nextflow.config").read_text()
    env = re.search(r"^env \{\n(.*?)^\}", config, re.M | re.S).group(1)
    for name in ("WES_FAIL_STEP", "WES_STEP_DELAY"):
        assert re.search(rf"^\s*{name}\s*=\s*System\.getenv\('{name}'\) \?: ''$", env, re.M), name
