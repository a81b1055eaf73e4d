import os
import re
import shutil
import subprocess
import sys
import tempfile

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


@pytest.mark.slow  # starts a second local Ray cluster with its dashboard: ~15-60 s
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


def test_a_local_cluster_serves_the_dashboard_and_logs_its_url():
    # In a child process of its own: this session's cluster runs without a dashboard.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths are limited to 107 bytes
    code = (
        "import logging, re, sys, urllib.request\n"
        "logging.basicConfig(level='INFO', stream=sys.stdout, format='%(message)s')\n"
        "from synclr_ray.cluster import init_ray; from synclr_ray.config import load_config\n"
        f"init_ray(load_config('tiny', ['ray.num_cpus=1']).ray, _temp_dir={temp_dir!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    match = re.search(r"Ray dashboard \(.*\): (http://127\.0\.0\.1:\d+)", out.stdout)
    shutil.rmtree(temp_dir, ignore_errors=True)
    assert out.returncode == 0 and match, out.stdout + out.stderr
