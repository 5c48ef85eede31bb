"""Resource requests against resource limits, read from the config text (no Nextflow here).

What is checked: every process's memory and time grow with `task.attempt` (a retry after an
out-of-memory kill or a time limit asks for more); `process.resourceLimits` caps cpus, memory and
time from the `max_*` params, which the portal's params file sets; no first attempt asks more than
the default limits; a retry is only for the memory/time exit codes. What only Nextflow's
documentation says (docs.seqera.io, "resourceLimits", added in 24.04): that a request above a limit
is lowered to it before the job is submitted. The arithmetic below mirrors that rule; it does not
prove Nextflow applies it."""

import re

import pytest

from nfsupport import PIPELINE

CONFIGS = [PIPELINE / "nextflow.config", *sorted((PIPELINE / "conf").glob("*.config"))]
MEMORY = {"KB": 1 / 1024**2, "MB": 1 / 1024, "GB": 1, "TB": 1024}
TIME = {"m": 1 / 60, "h": 1, "d": 24}
RETRIED = {104, 134, 137, 139, 140, 143, 247}


def gigabytes(text: str) -> float:
    number, unit = re.fullmatch(r"'?(\d+)\s*\.?\s*([KMGT]B)'?", text.strip()).groups()
    return int(number) * MEMORY[unit]


def hours(text: str) -> float:
    number, unit = re.fullmatch(r"'?(\d+)\s*\.?\s*(m|h|d)'?", text.strip()).groups()
    return int(number) * TIME[unit]


def process_block(text: str) -> str:
    start = text.index("\nprocess {")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise AssertionError("unclosed process block")


def selectors(text: str) -> dict[str, dict[str, str]]:
    """{"withLabel: process_low": {"cpus": "2", "memory": "{ 4.GB * task.attempt }", ...}}"""
    found = {}
    for name, body in re.findall(r"(with(?:Label|Name): \w+) {\n(.*?)\n    }", text, re.S):
        found[name] = dict(re.findall(r"^\s*(cpus|memory|time)\s*=\s*(.+?)\s*(?://.*)?$", body,
                                      re.M))
    return found


def requests(expression: str, unit) -> list[float]:
    """The values a request can take on attempt 1: `{ 4.GB * task.attempt }` gives [4];
    `{ (params.snpeff_db ? 8.GB : 4.GB) * task.attempt }` gives [8, 4]."""
    return [unit(v) for v in re.findall(r"(\d+\s*\.?\s*(?:[KMGT]B|[mhd]))\b", expression)]


MAIN = (PIPELINE / "nextflow.config").read_text()
PROCESS = process_block(MAIN)
DEFAULTS = dict(re.findall(r"^\s*(max_cpus|max_memory|max_time)\s*=\s*(\S+)", MAIN, re.M))
MAX_RETRIES = int(re.search(r"maxRetries\s*=\s*(\d+)", PROCESS).group(1))


def test_it_takes_resource_limits_from_the_max_params_the_portal_sets():
    limits = re.search(r"resourceLimits\s*=\s*\[(.*)\]", PROCESS).group(1)
    assert dict(re.findall(r"(\w+): ([^,]+)", limits)) == {
        "cpus": "params.max_cpus as int", "memory": "params.max_memory",
        "time": "params.max_time"}
    for path in CONFIGS[1:]:   # no profile replaces them or sets them per process
        assert "resourceLimits" not in path.read_text(), path.name


def test_it_grows_every_memory_and_time_request_with_the_attempt():
    found = {}
    for path in CONFIGS:
        for name, directives in selectors(path.read_text()).items():
            found[f"{path.name} {name}"] = directives
            for directive in ("memory", "time"):
                if directive in directives:
                    assert re.fullmatch(r"{ .+ \* task\.attempt }", directives[directive]), \
                        (path.name, name, directive)
            if "cpus" in directives:
                assert directives["cpus"].isdigit(), (path.name, name)
    assert {"nextflow.config withLabel: process_high", "nextflow.config withName: ANNOTATE",
            "gatk.config withName: CALL_VARIANTS"} <= set(found)


def test_it_asks_no_more_than_the_default_limits_on_a_first_attempt():
    limits = {"cpus": int(DEFAULTS["max_cpus"]), "memory": gigabytes(DEFAULTS["max_memory"]),
              "time": hours(DEFAULTS["max_time"])}
    for path in CONFIGS:
        for name, directives in selectors(path.read_text()).items():
            if "cpus" in directives:
                assert int(directives["cpus"]) <= limits["cpus"], (path.name, name)
            for directive, unit in (("memory", gigabytes), ("time", hours)):
                for value in requests(directives.get(directive, ""), unit):
                    assert value <= limits[directive], (path.name, name, directive)


@pytest.mark.parametrize("limits", [
    {"cpus": 2, "memory": 6, "time": 1},          # the test profile
    {"cpus": 4, "memory": 15, "time": 6},         # a small Slurm node (the portal's settings)
    {"cpus": 8, "memory": 16, "time": 24},        # the defaults
])
def test_it_keeps_the_lowered_request_within_the_limits_after_every_retry(limits):
    """Nextflow's rule (documented, not run here): request = min(base * attempt, limit)."""
    for path in CONFIGS:
        for name, directives in selectors(path.read_text()).items():
            for directive, unit in (("memory", gigabytes), ("time", hours)):
                for base in requests(directives.get(directive, ""), unit):
                    asked = [min(base * attempt, limits[directive])
                             for attempt in range(1, MAX_RETRIES + 2)]
                    assert max(asked) <= limits[directive]
                    assert asked == sorted(asked)           # a retry never asks for less
                    if base < limits[directive]:
                        assert asked[1] > asked[0], (path.name, name, directive)


def test_it_retries_only_out_of_memory_and_time_limit_exits():
    strategy = re.search(r"errorStrategy\s*=\s*{(.*)}", PROCESS).group(1)
    codes = {int(c) for c in re.search(r"in \[([\d, ]+)\]", strategy).group(1).split(",")}
    assert codes == RETRIED
    assert "'retry'" in strategy and "'terminate'" in strategy
    assert 1 <= MAX_RETRIES <= 3
    # what must still end a run at once: a damaged FASTQ (65), the test hook's failure (3)
    assert not {1, 2, 3, 65} & codes


def test_it_has_a_slurm_profile_that_guesses_no_ceilings_and_throttles_nothing():
    slurm = (PIPELINE / "conf" / "slurm.config").read_text()
    code = "\n".join(line for line in slurm.splitlines() if not line.lstrip().startswith("//"))
    assert "submitRateLimit" not in code and "max_cpus" not in code and "max_memory" not in code
    assert "queue          = params.slurm_queue" in code
    assert "clusterOptions = params.slurm_options" in code
