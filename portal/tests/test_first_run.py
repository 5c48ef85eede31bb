"""The README's first command, for real: the dev stack starts SeaweedFS, the database, the worker
and the web server with demo data; a browser signs in with the printed credentials; Ctrl-C stops
everything it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jobs.runs.runner import pipeline_steps

from tests.helpers import enrol_totp_in_browser, screenshot
from storage.seaweed import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class DevStack:
    def __init__(self, var_dir: Path):
        self.web_port, self.s3_port = free_port(), free_port()
        self.log_path = var_dir / "devstack.log"
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "MINIO_ACCESS_KEY",
                            "MINIO_SECRET_KEY", "DJANGO_DEBUG"}}
        env.update(WES_VAR_DIR=str(var_dir), WES_DEV_PORT=str(self.web_port),
                   WES_DEV_S3_PORT=str(self.s3_port), PYTHONUNBUFFERED="1",
                   WES_LOCAL_STEP_DELAY="1")  # slow enough to watch the job run
        self.log = open(self.log_path, "w")
        # Started as a shell starts `scripts/dev &`: with SIGINT ignored, which the launcher
        # must undo so that Ctrl-C (or kill -INT) still stops everything.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "portal.devstack"], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_healthy(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                    return {"status": response.status, "body": response.read().decode()}
            except OSError:
                time.sleep(0.5)
        raise AssertionError("dev stack did not become healthy:\n" + self.output())

    def credentials(self) -> dict[str, str]:
        found = re.findall(r"^\s+(clinician|manager|staff)\s+(\S+@demo\.lab)\s+(\S+)$",
                           self.output(), re.M)
        return {role: (email, password) for role, email, password in found}

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(60)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def devstack(tmp_path_factory):
    stack = DevStack(tmp_path_factory.mktemp("devstack"))
    try:
        stack.wait_healthy()
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.interrupt()


def sign_in(page, stack, email, password):
    page.goto(stack.url + "/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_it_starts_healthy_with_demo_credentials(devstack):
    health = devstack.wait_healthy()
    assert health["status"] == 200 and '"status": "ok"' in health["body"]
    assert set(devstack.credentials()) == {"clinician", "manager", "staff"}
    assert "storage ready: 6 buckets" in devstack.output()


def test_a_clinician_signs_in_and_sees_the_lab(devstack, chromium):
    email, password = devstack.credentials()["clinician"]
    page = chromium.new_page(viewport={"width": 1200, "height": 720})
    sign_in(page, devstack, email, password)
    page.wait_for_url(devstack.url + "/labs/demo/")
    assert page.locator("h1").inner_text() == "Demo Genomics Lab"
    assert "clinician of this lab" in page.content()
    screenshot(page, "lab-home-clinician")
    page.click("text=Members")
    assert page.locator("text=Send invitation").count() == 0
    page.close()


def test_a_clinician_submits_the_demo_sample_and_watches_it_run(devstack, chromium):
    email, password = devstack.credentials()["clinician"]
    page = chromium.new_page(viewport={"width": 1200, "height": 1000})
    sign_in(page, devstack, email, password)
    page.wait_for_url(devstack.url + "/labs/demo/")
    page.click("text=All samples")
    page.click("text=DEMO1")
    page.wait_for_selector("[data-sample-status='ready']", timeout=60_000)
    page.click("[data-submit-sample]")
    page.wait_for_url(re.compile(r".*/labs/demo/jobs/[0-9a-f-]+/$"))
    page.wait_for_selector("[data-step-status='completed']", timeout=60_000)
    assert page.locator("[data-job-status='running']").count() == 1
    assert page.locator("[data-step-status='running']").count() == 1
    screenshot(page, "job-running-live-progress")
    page.wait_for_selector("[data-job-status='succeeded']", timeout=180_000)
    assert page.locator("[data-step-status='completed']").count() == len(pipeline_steps())
    assert "DEMO1_Final_.txt" in page.content()
    screenshot(page, "job-succeeded")
    page.close()


def test_a_manager_invites_a_member(devstack, chromium):
    email, password = devstack.credentials()["manager"]
    page = chromium.new_page(viewport={"width": 1200, "height": 800})
    sign_in(page, devstack, email, password)
    enrol_totp_in_browser(page, shot="mfa-first-sign-in-manager")   # required of managers
    page.wait_for_url(devstack.url + "/labs/demo/")
    page.goto(devstack.url + "/labs/demo/members/")
    page.fill("input[name=email]", "clinician@demo.lab")
    page.click("text=Send invitation")
    assert "clinician@demo.lab is already a member of Demo Genomics Lab." in page.content()
    page.fill("input[name=email]", "new.geneticist@example.test")
    page.select_option("select[name=role]", "manager")
    page.click("text=Send invitation")
    assert "Invitation sent to new.geneticist@example.test" in page.content()
    screenshot(page, "members-manager")
    page.close()


def test_staff_reads_the_audit_log_in_the_admin(devstack, chromium):
    email, password = devstack.credentials()["staff"]
    page = chromium.new_page(viewport={"width": 1300, "height": 800})
    page.goto(devstack.url + "/admin/tenants/auditevent/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    enrol_totp_in_browser(page)                                      # required of staff
    page.wait_for_url(re.compile(r".*/admin/tenants/auditevent/$"))
    content = page.content()
    assert "auth.login" in content and "invitation.created" in content
    screenshot(page, "admin-audit-log")
    page.close()


def test_ctrl_c_stops_everything_it_started(devstack):
    assert port_open(devstack.web_port) and port_open(devstack.s3_port)
    started = time.monotonic()
    assert devstack.interrupt() == 0
    assert time.monotonic() - started < 12, "stopping took until the SIGKILL fallback"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (port_open(devstack.web_port)
                                           or port_open(devstack.s3_port)):
        time.sleep(0.2)
    assert not port_open(devstack.web_port), "the web server is still running"
    assert not port_open(devstack.s3_port), "SeaweedFS is still running"
    leftovers = subprocess.run(["pgrep", "-f", f"runserver 127.0.0.1:{devstack.web_port}"],
                               capture_output=True, text=True).stdout
    assert leftovers == ""
