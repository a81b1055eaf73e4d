"""jobs/: each entrypoint is its `synclr` stage command, and a real `ray job submit` of one succeeds."""

import contextlib
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pyarrow.dataset as pads
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from synclr_ray import rows, storage
from synclr_ray.runroot import CONFIG_FILE, RunRoot

pytestmark = pytest.mark.slow  # starts its own Ray head and submits a job (~40 s)

REPO = Path(__file__).resolve().parents[2]
# jobs/<script>.py -> the `synclr` command it runs
JOBS = {"captions": "captions", "images": "images", "pretrain": "pretrain", "probe": "probe", "pipeline": "pipeline",
        "transfer": "transfer", "finetune": "finetune", "segment": "segment", "embed_dataset": "embed-dataset"}  # fmt: skip
RAY_CLI = str(Path(sys.executable).parent / "ray")
HEAD_PORTS = [
    "port",
    "dashboard-port",
    "node-manager-port",
    "object-manager-port",
    "ray-client-server-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_job_script(script: str, *args: str) -> int:
    argv = sys.argv
    sys.argv = [str(REPO / "jobs" / f"{script}.py"), *args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.argv = argv
    return 0


def test_every_job_script_is_checked():
    assert sorted(path.stem for path in (REPO / "jobs").glob("*.py")) == sorted(JOBS)


@pytest.mark.parametrize("script", JOBS)
def test_job_entrypoint_is_the_stage_command(script, capsys):
    assert _run_job_script(script, "--help") == 0
    out = capsys.readouterr().out
    assert f" {JOBS[script]} [OPTIONS]" in out, out
    assert "--config" in out and "--set" in out


def test_job_entrypoint_reports_bad_config_in_one_line(capsys, tmp_path):
    code = _run_job_script("captions", "--config", "tiny", "--root", str(tmp_path), "--set", "captions.top_p=7")
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "captions.top_p" in err, err


def _session_processes(temp_dir: str) -> list[int]:
    """PIDs whose command line names this head's temp dir (its raylet, GCS, dashboard, workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if temp_dir.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


class Head(NamedTuple):
    """A running head: its dashboard URL, and the environment that lets clients in (token auth)."""

    url: str
    env: dict[str, str]
    token: str

    def client(self) -> JobSubmissionClient:
        return JobSubmissionClient(self.url, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def ray_head() -> Iterator[Head]:
    """A real local head from `ray start --head --block` with its own temp dir, ports and token auth.

    It runs in its own process group, which is terminated at the end: only this head stops.
    """
    temp_dir = tempfile.mkdtemp(prefix="rayjob-", dir="/tmp")
    ports = {name: _free_port() for name in HEAD_PORTS}
    token = secrets.token_hex(32)
    # As on the VM clusters (cluster/*.yaml): token auth on, the token in a file Ray reads.
    token_file = Path(temp_dir) / "auth_token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` is this venv's
    cmd = [RAY_CLI, "start", "--head", "--block", f"--temp-dir={temp_dir}", "--num-cpus=8", "--disable-usage-stats"]
    cmd += [
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        *(f"--{name}={port}" for name, port in ports.items()),
    ]
    head = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    running = Head(f"http://127.0.0.1:{ports['dashboard-port']}", env, token)
    try:
        deadline = time.monotonic() + 120
        while True:
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited {head.returncode}: {head.stderr.read().decode()[-2000:]}")
            try:
                running.client().list_jobs()
                break
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield running
    finally:
        _stop_head(head, temp_dir)


def _stop_head(head: subprocess.Popen, temp_dir: str) -> None:
    """Terminate the head's process group (a test head needs no graceful drain), then any stragglers of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
    deadline = time.monotonic() + 20
    while left := _session_processes(temp_dir):
        assert time.monotonic() < deadline, f"head processes {left} outlived their head"
        for pid in left:  # found by this head's own temp dir: nothing else is touched
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_job_submit_runs_the_caption_job(ray_head, s3_bucket):
    root = f"{s3_bucket}/run"
    submission_id = f"synclr-captions-{uuid.uuid4().hex[:8]}"
    submit = [RAY_CLI, "job", "submit", f"--address={ray_head.url}", f"--submission-id={submission_id}", "--no-wait"]
    submit += ["--working-dir", ".", "--runtime-env", "jobs/runtime_env.yaml"]
    submit += ["--", "python", "jobs/captions.py", "--config", "tiny", "--root", root, "--num-captions", "6"]
    subprocess.run(submit, cwd=REPO, env=ray_head.env, check=True, capture_output=True, timeout=120)

    client = ray_head.client()
    deadline = time.monotonic() + 300
    while (status := client.get_job_status(submission_id)) not in {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
    }:
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(1)
    assert status == JobStatus.SUCCEEDED, client.get_job_logs(submission_id)[-4000:]

    assert storage.exists(storage.join(RunRoot(root).captions, CONFIG_FILE))
    files = rows.CommitLog(RunRoot(root).captions).files()
    fs, _ = storage.filesystem(root)
    table = pads.dataset([storage.filesystem(f)[1] for f in files], filesystem=fs, format="parquet").to_table()
    assert table.num_rows == 6
    assert all(text.strip() for text in table.column("caption").to_pylist())


def _submit(head: Head, env: dict[str, str], code: str, *options: str) -> subprocess.CompletedProcess:
    """`ray job submit ... -- python -c CODE` as a user types it."""
    cmd = [RAY_CLI, "job", "submit", f"--address={head.url}", "--no-wait", *options, "--", "python", "-c", code]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("credentials", ["none", "wrong token"])
def test_ray_job_submit_without_the_token_is_refused(ray_head, credentials, tmp_path):
    """The job API runs code by design: with token auth on, a client without the token submits nothing."""
    env = {k: v for k, v in ray_head.env.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token of the machine's user either
    if credentials == "wrong token":
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    before = len(ray_head.client().list_jobs())
    result = _submit(ray_head, env, "print('should never run')")
    assert result.returncode != 0
    expected = "Authentication required" if credentials == "none" else "Invalid authentication token"
    assert expected in result.stdout + result.stderr, result.stdout + result.stderr
    assert len(ray_head.client().list_jobs()) == before


def test_ray_job_submit_with_the_token_runs(ray_head):
    submission_id = f"synclr-auth-{uuid.uuid4().hex[:8]}"
    result = _submit(ray_head, ray_head.env, "print('token ok')", f"--submission-id={submission_id}")
    assert result.returncode == 0, result.stderr
    client = ray_head.client()
    deadline = time.monotonic() + 120
    while (status := client.get_job_status(submission_id)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED}:
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(1)
    assert status == JobStatus.SUCCEEDED and "token ok" in client.get_job_logs(submission_id)
