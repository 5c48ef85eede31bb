"""What the portal tells Nextflow about its compute (jobs/runs/compute.py): the params file and
config written from the WES_SLURM_* settings, parsed back; the command that passes them; nothing
written or passed for a setting left unset; the settings read and refused at start-up."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs.models import Job, Sample
from jobs.runs.compute import Compute, memory_setting, time_setting
from jobs.runs.reference import StagedReference
from jobs.runs.runner import PipelineRun

ROOT = Path(__file__).resolve().parents[3]
NEXTFLOW_CONFIG = (ROOT / "nextflow" / "nextflow.config").read_text()
SLURM = dict(SLURM_QUEUE="wes,long", SLURM_ACCOUNT="lab_42", SLURM_CLUSTER_OPTIONS="--qos=clinical",
             SLURM_MAX_CPUS=16, SLURM_MAX_MEMORY="60 GB", SLURM_MAX_TIME="24h",
             NEXTFLOW_QUEUE_SIZE=4)
UNSET = dict(SLURM_QUEUE="", SLURM_ACCOUNT="", SLURM_CLUSTER_OPTIONS="", SLURM_MAX_CPUS=None,
             SLURM_MAX_MEMORY=None, SLURM_MAX_TIME=None, NEXTFLOW_QUEUE_SIZE=None)


JOB = Job(sample=Sample(name="TEST1"), attempts=1)


def nextflow_command(settings, tmp_path, runner="nextflow") -> list[str]:
    """The command of an unsaved job's run, always the same job (so the same work directory)."""
    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    job = JOB
    job.runner = runner
    reference = StagedReference(paths={"reference": tmp_path / "ref.fa",
                                       "targets": tmp_path / "t.bed",
                                       "annotation": tmp_path / "g.gff3"}, manifest={})
    run = PipelineRun(job, "test-owner", publish=lambda job, out_dir: None)
    return run.command({"r1": tmp_path / "r1.fq.gz", "r2": tmp_path / "r2.fq.gz"}, reference)


def option(command: list[str], name: str) -> Path:
    assert command.count(name) == 1, name
    return Path(command[command.index(name) + 1])


def config_lines(text: str) -> dict[str, str]:
    """`scope.name = value` lines of a Nextflow config (comments skipped)."""
    return dict(re.findall(r"^([\w.]+)\s*=\s*(.+)$", text, re.M))


def test_the_settings_reach_nextflow_as_a_params_file_and_a_config(settings, tmp_path):
    for name, value in SLURM.items():
        setattr(settings, name, value)
    command = nextflow_command(settings, tmp_path)

    params = json.loads(option(command, "-params-file").read_text())
    assert params == {"max_cpus": 16, "max_memory": "60 GB", "max_time": "24h",
                      "slurm_queue": "wes,long", "slurm_options": "--qos=clinical"}
    declared = re.search(r"^params {(.*?)^}", NEXTFLOW_CONFIG, re.M | re.S).group(1)
    for name in params:   # each is a param the pipeline declares (and its configs use)
        assert re.search(rf"^\s*{name}\s*=", declared, re.M), name
    assert "resourceLimits = [cpus: params.max_cpus as int, memory: params.max_memory, " \
           "time: params.max_time]" in NEXTFLOW_CONFIG

    config = option(command, "-c")
    assert config_lines(config.read_text()) == {"executor.account": "'lab_42'",
                                                "executor.queueSize": "4"}
    # the files live in the run's own work directory, on the shared file system
    assert config.parent == params_dir(settings) == option(command, "-params-file").parent
    assert command.index("-c") < command.index("--sample")     # Nextflow's options, not params


def params_dir(settings) -> Path:
    return Path(settings.PIPELINE_WORK_DIR) / str(JOB.pk) / "nextflow"


def test_unset_settings_write_nothing_and_leave_the_command_as_it_was(settings, tmp_path):
    for name, value in UNSET.items():
        setattr(settings, name, value)
    command = nextflow_command(settings, tmp_path)
    assert "-params-file" not in command and "-c" not in command
    assert command[:8] == ["nextflow", "run", str(ROOT / "nextflow" / "main.nf"), "-ansi-log",
                           "false", "-profile", settings.NEXTFLOW_PROFILE, "-work-dir"]
    assert not (params_dir(settings) / "params.json").exists()
    assert not (params_dir(settings) / "run.config").exists()


def test_only_the_settings_given_are_written(settings, tmp_path):
    for name, value in UNSET.items():
        setattr(settings, name, value)
    settings.SLURM_MAX_CPUS = 4
    settings.NEXTFLOW_QUEUE_SIZE = 2
    command = nextflow_command(settings, tmp_path)
    assert json.loads(option(command, "-params-file").read_text()) == {"max_cpus": 4}
    assert config_lines(option(command, "-c").read_text()) == {"executor.queueSize": "2"}

    # the next attempt, with the settings removed: the stale files go too
    settings.SLURM_MAX_CPUS = settings.NEXTFLOW_QUEUE_SIZE = None
    command = nextflow_command(settings, tmp_path)
    assert "-params-file" not in command and "-c" not in command
    assert list(params_dir(settings).iterdir()) == []


def test_the_local_runner_gets_none_of_it(settings, tmp_path):
    for name, value in SLURM.items():
        setattr(settings, name, value)
    command = nextflow_command(settings, tmp_path, runner="local")
    assert command[0] == sys.executable and command[1].endswith("run-local")
    assert "-params-file" not in command and "-c" not in command and "--max_cpus" not in command
    assert not params_dir(settings).exists()


def test_an_account_is_quoted_for_groovy():
    text = Compute(account="o'brien\\lab").config_text()
    assert config_lines(text) == {"executor.account": r"'o\'brien\\lab'"}


@pytest.mark.parametrize("raw,nextflow", [("64G", "64 GB"), ("64 GB", "64 GB"), ("64.GB", "64 GB"),
                                          ("512m", "512 MB"), ("1t", "1 TB"), ("", None)])
def test_memory_settings(raw, nextflow):
    assert memory_setting("WES_SLURM_MAX_MEMORY", raw) == nextflow


@pytest.mark.parametrize("raw,nextflow", [("48h", "48h"), ("2d", "2d"), ("90min", "90m"),
                                          ("24.h", "24h"), ("", None)])
def test_time_settings(raw, nextflow):
    assert time_setting("WES_SLURM_MAX_TIME", raw) == nextflow


@pytest.mark.parametrize("reader,raw", [(memory_setting, "lots"), (memory_setting, "0G"),
                                        (memory_setting, "64"), (time_setting, "2-00:00:00"),
                                        (time_setting, "48s")])
def test_malformed_amounts_are_named(reader, raw):
    with pytest.raises(ImproperlyConfigured, match=rf"WES_SLURM_MAX_\w+={re.escape(repr(raw))}"):
        reader("WES_SLURM_MAX_MEMORY" if reader is memory_setting else "WES_SLURM_MAX_TIME", raw)


PROBE = ("import django; django.setup(); from django.conf import settings as s; "
         "print(s.SLURM_MAX_CPUS, s.SLURM_MAX_MEMORY, s.SLURM_MAX_TIME, s.SLURM_QUEUE)")
NAMES = ["WES_SLURM_QUEUE", "WES_SLURM_ACCOUNT", "WES_SLURM_CLUSTER_OPTIONS", "WES_SLURM_MAX_CPUS",
         "WES_SLURM_MAX_MEMORY", "WES_SLURM_MAX_TIME", "WES_NEXTFLOW_QUEUE_SIZE",
         "WES_NEXTFLOW_PROFILE", "WES_PIPELINE_RUNNER", "DATABASE_URL", "REDIS_URL"]


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in NAMES}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path),
                 DJANGO_DEBUG="true", **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_the_slurm_profile_refuses_to_start_without_the_ceilings(tmp_path):
    result = start(tmp_path, WES_NEXTFLOW_PROFILE="slurm", WES_SLURM_MAX_CPUS="16")
    assert result.returncode != 0
    assert "WES_NEXTFLOW_PROFILE='slurm' runs tasks on Slurm: set WES_SLURM_MAX_MEMORY, " \
           "WES_SLURM_MAX_TIME to what your largest node" in result.stderr

    result = start(tmp_path, WES_NEXTFLOW_PROFILE="slurm", WES_SLURM_MAX_CPUS="16",
                   WES_SLURM_MAX_MEMORY="60G", WES_SLURM_MAX_TIME="1d", WES_SLURM_QUEUE="wes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["16", "60", "GB", "1d", "wes"]


@pytest.mark.parametrize("env,message", [
    ({"WES_SLURM_MAX_CPUS": "0"}, "WES_SLURM_MAX_CPUS=0 is below the minimum of 1"),
    ({"WES_SLURM_MAX_MEMORY": "sixty"}, "WES_SLURM_MAX_MEMORY='sixty' is not an amount of memory"),
    ({"WES_SLURM_QUEUE": "wes; rm -rf"}, "WES_SLURM_QUEUE='wes; rm -rf': letters, digits"),
    ({"WES_NEXTFLOW_QUEUE_SIZE": "many"}, "WES_NEXTFLOW_QUEUE_SIZE='many' is not an integer"),
])
def test_malformed_compute_settings_stop_the_start_up(tmp_path, env, message):
    result = start(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr
