"""The scrub's settings, read as a server reads them (a child process): a schedule that is not a
cron expression, or a negative sample, stops the start with a sentence naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import django; django.setup(); from django.conf import settings; "
         "print(settings.SCRUB_SCHEDULE, settings.SCRUB_SAMPLE)")


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WES_SCRUB_")}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="true",
                 WES_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_the_defaults_and_an_own_schedule(tmp_path):
    assert start(tmp_path).stdout.split() == ["45", "3", "*", "*", "*", "1000"]
    assert start(tmp_path, WES_SCRUB_SCHEDULE="off", WES_SCRUB_SAMPLE="0").stdout.split() == [
        "off", "0"]


def test_a_bad_schedule_or_sample_is_refused_by_name(tmp_path):
    bad = start(tmp_path, WES_SCRUB_SCHEDULE="every night")
    assert bad.returncode != 0
    assert "WES_SCRUB_SCHEDULE='every night' is not a cron line" in bad.stderr
    backup = start(tmp_path, WES_BACKUP_SCHEDULE="nightly")   # the same reader (common/env.py)
    assert backup.returncode != 0
    assert "WES_BACKUP_SCHEDULE='nightly' is not a cron line" in backup.stderr
    assert "nor off" not in backup.stderr, "the backup schedule has no 'off': an empty target is"
    negative = start(tmp_path, WES_SCRUB_SAMPLE="-5")
    assert negative.returncode != 0 and "WES_SCRUB_SAMPLE=-5 is below the minimum" in negative.stderr
