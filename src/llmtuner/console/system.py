"""This machine's load for the dashboard: CPU, memory, the data folder's disk, and GPUs through NVML
(nvidia-ml-py) where a driver is present. Read at most once a second however many dashboards ask."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any


class Nvml:
    """NVML, initialised once; `available` is False (with the reason) where there is no NVIDIA driver."""

    def __init__(self) -> None:
        self.available = False
        self.reason = "nvidia-ml-py is not installed"
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
        except Exception as error:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: no GPUs to show
            self.reason = f"no NVIDIA driver ({type(error).__name__})"
            return
        self.pynvml = pynvml
        self.available, self.reason = True, ""

    def count(self) -> int:
        return self.pynvml.nvmlDeviceGetCount() if self.available else 0

    def devices(self) -> list[dict[str, Any]]:
        if not self.available:
            return []
        nv, found = self.pynvml, []
        for index in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            memory = nv.nvmlDeviceGetMemoryInfo(handle)
            name = nv.nvmlDeviceGetName(handle)
            device: dict[str, Any] = {"index": index, "name": name.decode() if isinstance(name, bytes) else str(name),
                                      "memory_total_bytes": int(memory.total), "memory_used_bytes": int(memory.used),
                                      "utilization_percent": None, "temperature_c": None}
            try:
                device["utilization_percent"] = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
                device["temperature_c"] = float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
            except Exception:  # not every GPU (or MIG slice) reports these
                pass
            found.append(device)
        return found


_nvml: Nvml | None = None
_nvml_lock = threading.Lock()


def nvml() -> Nvml:
    global _nvml
    with _nvml_lock:
        if _nvml is None:
            _nvml = Nvml()
        return _nvml


def detected_gpu_ids() -> tuple[int, ...]:
    """The GPUs the scheduler may hand out when --gpu_ids is not given: CUDA_VISIBLE_DEVICES's, else NVML's."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(int(part) for part in visible.split(",") if part.strip().isdigit())
    return tuple(range(nvml().count()))


class SystemMonitor:
    def __init__(self, data_dir: Path, ttl_s: float = 1.0) -> None:
        self.data_dir = data_dir
        self.ttl_s = ttl_s
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        import psutil

        psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def read(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.ttl_s:
                self._cached = (now, self._measure())
            return self._cached[1]

    def _measure(self) -> dict[str, Any]:
        import psutil

        memory = psutil.virtual_memory()
        disk = shutil.disk_usage(self.data_dir)
        gpus = nvml()
        return {
            "cpu": {"percent": psutil.cpu_percent(interval=None), "count": psutil.cpu_count() or 0,
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else []},
            "memory": {"total_bytes": memory.total, "used_bytes": memory.total - memory.available, "percent": memory.percent},
            "disk": {"path": str(self.data_dir), "total_bytes": disk.total, "used_bytes": disk.used, "free_bytes": disk.free},
            "gpus": gpus.devices(),
            "gpu_note": gpus.reason or None,
        }
