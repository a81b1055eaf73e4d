"""The streaming pipeline on an autoscaling cluster shaped like cluster/aws.yaml, on this one machine.

Ray's fake multi-node provider (the one behind ``ray.cluster_utils.AutoscalingCluster``) with
autoscaler v2 launches worker nodes as local raylets carrying their node type's labels. The head
has no CPUs; the generation and training types start at zero workers. The pipeline is submitted
as a user would (``synclr pipeline`` joining the cluster), so this test process never joins it.

``AutoscalingCluster`` itself is not used: its ``start`` and ``shutdown`` run ``ray stop --force``
(every Ray instance on the machine), and the 2.60 wheel lacks the ``example.yaml`` that its config
and the ``fake_multinode`` provider type read; the provider is named as an ``external`` module instead.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FAKE_HEAD_ID = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"  # the fake provider's fixed head id
IDLE_TIMEOUT_MINUTES = 0.25
# Small versions of cluster/aws.yaml's worker types: CPUs for the tiny preset, no GPUs.
NODE_RESOURCES = {"generation": {"CPU": 4}, "training": {"CPU": 2}}
OBJECT_STORE_BYTES = 200 * 2**20
PIPELINE = ["captions.num_captions=8", "captions.backgrounds=generic", "captions.batch_size=8", "images.batch_size=4",
            "images.num_inference_steps=2", "train.batch_captions=4", "train.steps=3",
            "train.optim.warmup_steps=1", "train.checkpoint_every=3", "train.log_every=1", "train.loader_tasks=1",
            "ray.progress_bars=false", "ray.generation_label=data", "ray.training_label=training"]  # fmt: skip


class Head(NamedTuple):
    address: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_types() -> dict:
    """The worker types of cluster/aws.yaml with their labels, scaled to this machine, from zero workers."""
    aws = yaml.safe_load((REPO / "cluster" / "aws.yaml").read_text())["available_node_types"]
    return {
        name: {"resources": {**NODE_RESOURCES[name], "object_store_memory": OBJECT_STORE_BYTES},
               "labels": aws[name]["labels"], "node_config": {}, "min_workers": 0, "max_workers": 1}
        for name in NODE_RESOURCES
    }  # fmt: skip


def _autoscaling_config(gcs_address: str) -> dict:
    return {
        "cluster_name": "synclr-fake",
        "max_workers": 2,
        "provider": {
            "type": "external",
            "module": "ray.autoscaler._private.fake_multi_node.node_provider.FakeMultiNodeProvider",
            "gcs_address": gcs_address,
            "head_node_id": FAKE_HEAD_ID,
            "launch_multiple": True,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            **_node_types(),
        },
        "head_node_type": "ray.head.default",
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MINUTES,
        **{key: [] for key in ("initialization_commands", "setup_commands", "head_setup_commands",
                               "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands",
                               "cluster_synced_files", "rsync_exclude", "rsync_filter")},
        "auth": {}, "docker": {}, "file_mounts": {}, "file_mounts_sync_continuously": False,
    }  # fmt: skip


def _session_processes(temp_dir: str) -> list[int]:
    """PIDs whose command line names this cluster's temp dir (GCS, raylets, autoscaler, agents)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if temp_dir.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """A head with the fake autoscaler, its own temp dir, ports and token; only its own processes are stopped."""
    import ray._private.services

    temp_dir = tempfile.mkdtemp(prefix="ray-autoscale-", dir="/tmp")
    port = _free_port()
    address = f"{ray._private.services.get_node_ip_address()}:{port}"
    config = Path(temp_dir) / "autoscaling.json"
    config.write_text(json.dumps(_autoscaling_config(address)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), PATH=f"{BIN}{os.pathsep}{env['PATH']}")
    head_env = {**env, "RAY_FAKE_CLUSTER": "1", "RAY_enable_autoscaler_v2": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1",
                "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_ID, "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_ID}  # fmt: skip
    cmd = [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", f"--temp-dir={temp_dir}",
           f"--autoscaling-config={config}", "--num-cpus=0", f"--object-store-memory={OBJECT_STORE_BYTES}",
           "--include-dashboard=false", "--disable-usage-stats", f"--ray-client-server-port={_free_port()}",
           f"--dashboard-agent-listen-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}",
           f"--metrics-export-port={_free_port()}"]  # fmt: skip
    log = Path(temp_dir) / "ray-start.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=head_env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        running = Head(address, env)
        deadline = time.monotonic() + 120
        while not _inspect(running, "nodes"):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the head did not come up"
            time.sleep(2)
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while left := _session_processes(temp_dir):
            assert time.monotonic() < deadline, f"cluster processes {left} outlived their head"
            for pid in left:  # found by this cluster's own temp dir: nothing else is touched
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        shutil.rmtree(temp_dir, ignore_errors=True)


_INSPECT = textwrap.dedent("""
    import json, sys, ray
    from ray._private import state
    ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
    if sys.argv[2] == "nodes":
        out = [{"id": n["NodeID"], "alive": n["Alive"], "labels": n["Labels"]} for n in ray.nodes()]
    else:
        out = [{"class": a["ActorClassName"], "node": a["Address"]["NodeID"]} for a in state.actors().values()]
    print("INSPECT " + json.dumps(out))
""")


def _inspect(head: Head, what: str) -> list[dict]:
    """Nodes or actors (dead ones too) of the cluster, read by a short-lived driver of its own."""
    proc = subprocess.run([sys.executable, "-c", _INSPECT, head.address, what], env=head.env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("INSPECT ")]
    return json.loads(lines[-1].removeprefix("INSPECT ")) if lines else []


def _alive_groups(head: Head) -> list[str | None]:
    return sorted((n["labels"].get("ray-subcluster") or "head") for n in _inspect(head, "nodes") if n["alive"])


def test_pipeline_scales_labelled_groups_from_zero_and_releases_them(head, tmp_path):
    assert _alive_groups(head) == ["head"]  # both worker types start at zero

    cmd = [str(BIN / "synclr"), "pipeline", "--root", str(tmp_path / "run"), "--config", "tiny",
           *[arg for item in [*PIPELINE, f"ray.address={head.address}"] for arg in ("--set", item)]]  # fmt: skip
    run = subprocess.run(cmd, env=head.env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "streaming run: step 3" in run.stdout

    labels = {n["id"]: n["labels"].get("ray-subcluster") for n in _inspect(head, "nodes")}
    placed: dict[str, set] = {}
    for actor in _inspect(head, "actors"):
        for kind in ("TransformersGenerator", "ImageGenerator", "RayTrainWorker"):
            if kind in actor["class"]:
                placed.setdefault(kind, set()).add(labels.get(actor["node"]))
    assert placed == {"TransformersGenerator": {"data"}, "ImageGenerator": {"data"}, "RayTrainWorker": {"training"}}

    deadline = time.monotonic() + 180
    while (alive := _alive_groups(head)) != ["head"]:  # idle workers go after idle_timeout_minutes
        assert time.monotonic() < deadline, f"idle workers still up: {alive}"
        time.sleep(5)
