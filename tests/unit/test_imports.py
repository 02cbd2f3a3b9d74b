"""What importing a module costs: a task or queue name (mnistgrid.routing) builds no Celery app,
and the orchestrator's planning loads no torch (a bad grid is refused before torch would load)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(module: str, watched: tuple[str, ...]) -> list[str]:
    probe = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {watched!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", ["mnistgrid.routing", "mnistgrid.spec"])
def test_task_and_queue_names_import_without_celery(module):
    assert loaded_after(module, ("celery", "kombu", "torch")) == []


def test_planning_a_sweep_imports_no_torch():
    assert loaded_after("orchestrator.plan", ("torch",)) == []


def test_the_workers_app_is_built_only_where_it_is_imported():
    assert "workers.celery_app" not in loaded_after("mnistgrid.queue.publish", ("workers",))
