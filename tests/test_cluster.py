import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import ray
from ray.data import DataContext

from synclr_ray.cluster import data_options, init_ray, label_selector, run_data_in
from synclr_ray.config import load_config


def test_init_ray_reuses_the_running_cluster(ray_cluster):
    before = ray.get_runtime_context().get_job_id()
    init_ray(load_config("tiny").ray)
    assert ray.get_runtime_context().get_job_id() == before
    assert ray.cluster_resources()["CPU"] >= 4


def test_label_selector():
    assert label_selector(None) is None
    assert label_selector("data") == {"ray-subcluster": "data"}


def test_data_executions_are_scoped_to_one_subcluster_group():
    # Ray Data budgets an execution from the nodes of the group its label_selector names (unlabelled ones without).
    options = data_options("data", preserve_order=True)
    assert options.label_selector == {"ray-subcluster": "data"} and options.preserve_order
    assert data_options(None).label_selector is None
    try:
        run_data_in("training")
        assert DataContext.get_current().execution_options.label_selector == {"ray-subcluster": "training"}
    finally:
        run_data_in(None)
    assert DataContext.get_current().execution_options.label_selector is None


@pytest.mark.slow  # starts a second local Ray cluster with its dashboard: ~15-60 s
def test_a_local_cluster_serves_the_dashboard_and_logs_its_url():
    # In a child process of its own: this session's cluster runs without a dashboard.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths are limited to 107 bytes
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level='INFO', stream=sys.stdout, format='%(message)s')\n"
        "from synclr_ray.cluster import init_ray; from synclr_ray.config import load_config\n"
        f"init_ray(load_config('tiny', ['ray.num_cpus=1']).ray, _temp_dir={temp_dir!r})\n"
        "sys.stdin.read()\n"  # keeps the cluster up until the test has called the dashboard
    )
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS" and not k.startswith("RAY_AUTH")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines, url = [], None
    try:
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline and (line := child.stdout.readline()):
            lines.append(line)
            if match := re.search(r"Ray dashboard \(.*\): (http://127\.0\.0\.1:\d+)", line):
                url = match.group(1)
        assert url, "".join(lines)
        assert _wait_for_http(f"{url}/api/version", deadline) == 401, "the dashboard answers callers without the token"
        assert _wait_for_http(f"{url}/api/version", deadline, token) == 200
    finally:
        # The child's Ray processes share its fate (Ray kills them when their driver dies), so a
        # shutdown that stalls on a loaded machine cannot outlive the test.
        child.kill()
        child.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_http(url: str, deadline: float, token: str | None = None) -> int | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    status = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except OSError as error:
            status = getattr(error, "code", None)
            if status is not None:  # an HTTP answer, not a dashboard still starting
                return status
            time.sleep(1)
    return status
