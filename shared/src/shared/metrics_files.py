"""Where gunicorn workers keep their metric files, and what happens to a dead worker's.

prometheus_client's multiprocess mode has each worker write its values to files in one
directory, and a scrape adds them up. This module knows that directory without importing
prometheus_client, so the gunicorn master can use it: the master must never import
prometheus_client itself, or every worker it forks would inherit a single-process client.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


def directory(master_pid: int) -> str:
    """The directory of one gunicorn master's workers: PROMETHEUS_MULTIPROC_DIR if set."""
    return os.environ.get(ENV) or os.path.join(
        tempfile.gettempdir(), f"suite-prometheus-{master_pid}"
    )


def forget_worker(worker_pid: int, master_pid: int) -> None:
    """A dead worker's live gauges (circuit state) stop counting; its counters stay summed.

    The same as prometheus_client.multiprocess.mark_process_dead, without the import.
    """
    for path in glob.glob(os.path.join(directory(master_pid), f"gauge_live*_{worker_pid}.db")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_directory(master_pid: int) -> None:
    """At the master's exit: drop the directory it owned (never one set from outside)."""
    if not os.environ.get(ENV):
        shutil.rmtree(directory(master_pid), ignore_errors=True)
