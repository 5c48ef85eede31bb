"""The Prometheus files in deploy/prometheus/ as Prometheus itself reads them: promtool accepts
the scrape configuration (also with the token variant) and the alert rules, and the rules' unit
tests pass (Debian's prometheus package ships /usr/bin/promtool)."""

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed "
                                "(Debian: apt install prometheus)")


def promtool(*args, cwd=PROMETHEUS) -> str:
    answer = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def test_promtool_accepts_the_scrape_configuration_and_the_rules():
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")


def test_the_token_variant_of_the_scrape_configuration_is_valid_too(tmp_path):
    config = (PROMETHEUS / "prometheus.yml").read_text()
    token_file = tmp_path / "wes-metrics-token"
    token_file.write_text("secret\n")
    uncommented = (config.replace("    # authorization:", "    authorization:")
                   .replace("    #   type: Bearer", "      type: Bearer")
                   .replace("    #   credentials_file: /etc/prometheus/wes-metrics-token",
                            f"      credentials_file: {token_file}"))
    assert uncommented != config
    (tmp_path / "prometheus.yml").write_text(uncommented)
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path)
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_the_alert_rules_unit_tests_pass():
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_every_alert_has_a_unit_test_or_a_reason():
    rules = (PROMETHEUS / "alerts.yml").read_text()
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines()
              if line.strip().startswith("- alert:")]
    untested = [name for name in alerts if f"alertname: {name}" not in tests]
    assert not untested, f"alerts without a promtool unit test: {untested}"
