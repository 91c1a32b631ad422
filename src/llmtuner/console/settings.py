"""What one console server is configured with (flags of `llmtuner console`, or arguments of create_app in tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DATABASE_URL_ENV = "LLMTUNER_CONSOLE_DATABASE_URL"
DATA_DIR_ENV = "LLMTUNER_CONSOLE_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.llmtuner/console")
DB_FILE = "console.db"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


@dataclass(frozen=True)
class ConsoleSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    """Holds the SQLite database (unless database_url says otherwise), uploaded datasets and every job's folder."""
    database_url: str | None = None
    """SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host/db. None: LLMTUNER_CONSOLE_DATABASE_URL, else
    a SQLite file console.db under data_dir."""
    host: str = "127.0.0.1"
    port: int = 8080
    upload_limit_mb: int = 2048
    """Largest dataset upload, in MiB (the whole request body); a larger one is refused with 413 while it streams."""
    json_limit_kb: int = 1024
    """Largest JSON request body, in KiB."""
    cpu_slots: int = 1
    """Jobs without GPUs that may run at once."""
    gpu_ids: tuple[int, ...] | None = None
    """GPU ids the scheduler hands out (one job per GPU). None: the GPUs NVML finds (none without a driver)."""
    stop_grace_s: float = 30.0
    """After SIGTERM a job's process group gets this long to exit, then SIGKILL."""
    session_hours: float = 12.0
    """How long a sign-in (token or browser session) lasts."""
    login_failures_per_user: int = 5
    login_attempts_per_address: int = 20
    login_window_s: float = 300.0
    """Failed sign-ins per username, and sign-ins per client address, allowed within this window."""
    poll_interval_s: float = 1.0
    """How often the scheduler looks at its jobs, and log streams at their files."""
    executor: str = "local"
    """Where jobs run: "local" (child processes of the console) or "slurm" (submitted with sbatch)."""
    slurm_partition: str | None = None
    """The Slurm partition jobs go to (None: the cluster's default)."""
    slurm_sbatch_args: str = ""
    """Extra sbatch options for every job, e.g. "--time=24:00:00 --account=ai --cpus-per-task=8"."""
    start_scheduler: bool = True
    """False: no background scheduler (tests that drive `Scheduler.tick()` themselves)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{self.data_dir / DB_FILE}"

    @property
    def datasets_dir(self) -> Path:
        """The `dataset_dir` of console jobs: dataset_info.json and the uploaded files (under files/)."""
        return self.data_dir / "datasets"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def cache_dir(self) -> Path:
        """The datasets cache of previews and jobs: converted copies of patients' records stay under data_dir."""
        return self.data_dir / "cache"

    @property
    def upload_limit_bytes(self) -> int:
        return self.upload_limit_mb * 2**20

    @property
    def json_limit_bytes(self) -> int:
        return self.json_limit_kb * 2**10

    def prepare_folders(self) -> None:
        """data_dir and its folders; the ones made here are readable by their owner only (patients' records)."""
        for folder in (self.data_dir, self.datasets_dir, self.jobs_dir, self.cache_dir):
            if not folder.exists():
                folder.mkdir(parents=True, mode=0o700)
