"""What the portal tells Nextflow about the compute it runs on (docs/operations.md, "Compute on
Slurm"): the resource ceilings, the Slurm partition, account and extra sbatch options, and how many
tasks one run may have queued at once, from the portal's settings (WES_SLURM_*,
WES_NEXTFLOW_QUEUE_SIZE).

Two files in the run's work directory carry them, so they apply on any executor and nothing has
to be typed on a command line:

- `params.json` (`-params-file`): the pipeline's own params `max_cpus`, `max_memory`, `max_time`
  (nextflow.config turns them into `process.resourceLimits`), `slurm_queue` and `slurm_options`
  (conf/slurm.config turns them into `process.queue` and `process.clusterOptions`). Nextflow reads
  params given this way before it parses any config file, and a config's own `params.x = ...` does
  not replace them, so the profiles' defaults give way.
- `run.config` (`-c`): settings that are not pipeline params, `executor.account` (Nextflow 24.04+)
  and `executor.queueSize`.

Both options go after `run` (`-c` there is CmdRun's own, like the launcher's `-c`). A setting left
unset writes nothing: the pipeline's defaults hold. No Django here, so that
`portal/settings.py` can use the readers below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

PARAMS_FILE = "params.json"
CONFIG_FILE = "run.config"

MEMORY_UNITS = {"k": "KB", "kb": "KB", "m": "MB", "mb": "MB", "g": "GB", "gb": "GB",
                "t": "TB", "tb": "TB"}
TIME_UNITS = {"m": "m", "min": "m", "h": "h", "d": "d"}
SLURM_NAME = re.compile(r"^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$")   # partition list, account


def memory_setting(name: str, raw: str) -> str | None:
    """`64G`, `64 GB`, `64.GB`, `512m` in the form Nextflow's docs write memory (`64 GB`); None
    when empty."""
    raw = raw.strip()
    if not raw:
        return None
    match = re.fullmatch(r"(\d+)\s*\.?\s*([A-Za-z]+)", raw)
    if not match or match[2].lower() not in MEMORY_UNITS or int(match[1]) < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an amount of memory; write e.g. 64G, "
                                   "64GB or 512M (units K, M, G, T)")
    return f"{int(match[1])} {MEMORY_UNITS[match[2].lower()]}"


def time_setting(name: str, raw: str) -> str | None:
    """`48h`, `2d`, `90m`, `48.h` in the form Nextflow's docs write a duration (`48h`); None when
    empty."""
    raw = raw.strip()
    if not raw:
        return None
    match = re.fullmatch(r"(\d+)\s*\.?\s*([A-Za-z]+)", raw)
    if not match or match[2].lower() not in TIME_UNITS or int(match[1]) < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a duration; write e.g. 48h, 2d or "
                                   "90m (units m, h, d)")
    return f"{int(match[1])}{TIME_UNITS[match[2].lower()]}"


def slurm_name_setting(name: str, raw: str) -> str:
    raw = raw.strip()
    if raw and not SLURM_NAME.match(raw):
        raise ImproperlyConfigured(f"{name}={raw!r}: letters, digits, '.', '_', '-' only (several "
                                   "partitions separated by commas)")
    return raw


def cluster_options_setting(name: str, raw: str) -> str:
    raw = raw.strip()
    if any(c in raw for c in "\n\r\x00"):
        raise ImproperlyConfigured(f"{name} must be one line of sbatch options")
    return raw


@dataclass(frozen=True)
class Compute:
    queue: str = ""
    account: str = ""
    cluster_options: str = ""
    max_cpus: int | None = None
    max_memory: str | None = None     # Nextflow's form, "64 GB"
    max_time: str | None = None       # "48h"
    queue_size: int | None = None

    @classmethod
    def from_settings(cls, settings) -> Compute:
        return cls(queue=settings.SLURM_QUEUE, account=settings.SLURM_ACCOUNT,
                   cluster_options=settings.SLURM_CLUSTER_OPTIONS,
                   max_cpus=settings.SLURM_MAX_CPUS, max_memory=settings.SLURM_MAX_MEMORY,
                   max_time=settings.SLURM_MAX_TIME, queue_size=settings.NEXTFLOW_QUEUE_SIZE)

    def params(self) -> dict:
        """The pipeline params for `-params-file`: only those set."""
        values = {"max_cpus": self.max_cpus, "max_memory": self.max_memory,
                  "max_time": self.max_time, "slurm_queue": self.queue or None,
                  "slurm_options": self.cluster_options or None}
        return {key: value for key, value in values.items() if value is not None}

    def config_text(self) -> str:
        """The `-c` config: one line per setting that is set; "" when none is."""
        lines = []
        if self.account:
            lines.append(f"executor.account = {_groovy_string(self.account)}")
        if self.queue_size is not None:
            lines.append(f"executor.queueSize = {int(self.queue_size)}")
        if not lines:
            return ""
        return ("// Written by the WES Portal for this run from its settings "
                "(jobs/runs/compute.py)\n" + "\n".join(lines) + "\n")

    def write(self, directory: Path) -> list[str]:
        """Writes the files this run needs into `directory` and returns Nextflow's options for
        them (none when no setting is set). Files of an earlier attempt that are no longer
        wanted are removed, so a file on disk is always one the command names."""
        directory.mkdir(parents=True, exist_ok=True)
        options = []
        params, config = self.params(), self.config_text()
        for file_name, text, option in (
                (PARAMS_FILE, json.dumps(params, indent=2) + "\n" if params else "",
                 "-params-file"),
                (CONFIG_FILE, config, "-c")):
            path = directory / file_name
            if text:
                path.write_text(text)
                options += [option, str(path)]
            else:
                path.unlink(missing_ok=True)
        return options


def _groovy_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
