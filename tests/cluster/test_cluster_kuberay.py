"""cluster/kuberay/: the manifests parse and carry what the stages and the Serve app need."""

import importlib.util
import re
import shlex
from pathlib import Path

import ray
import yaml

from synclr_ray.cluster import SUBCLUSTER_LABEL
from synclr_ray.config import load_config

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "cluster" / "kuberay"


def _manifest(name: str) -> dict:
    doc = yaml.safe_load((KUBERAY / name).read_text())
    assert doc["apiVersion"] == "ray.io/v1"
    return doc


def _embedder():
    spec = importlib.util.spec_from_file_location("embed_serve_config", KUBERAY / "embed_serve_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gpus(group: dict) -> int:
    (container,) = group["template"]["spec"]["containers"]
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert limits == requests, f"{group['groupName']}: requests must equal limits so Ray sees what it gets"
    return int(limits.get("nvidia.com/gpu", 0))


def _images(cluster_spec: dict) -> set[str]:
    groups = [cluster_spec["headGroupSpec"], *cluster_spec["workerGroupSpecs"]]
    return {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}


def test_raycluster_has_autoscaled_gpu_groups_on_the_presets_labels():
    cluster = _manifest("raycluster.yaml")
    assert cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True and spec["autoscalerOptions"]["version"] == "v2"
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert _gpus(spec["headGroupSpec"]) == 0
    groups = {g["labels"][SUBCLUSTER_LABEL]: g for g in spec["workerGroupSpecs"]}
    ray_cfg = load_config("paper-vitb16").ray
    for label in (ray_cfg.generation_label, ray_cfg.training_label):
        group = groups[label]
        assert _gpus(group) >= 1
        assert group["minReplicas"] == 0 < group["maxReplicas"]
    assert len(_images(spec)) == 1


def test_rayjob_runs_the_pipeline_job_on_that_cluster():
    job = _manifest("rayjob.yaml")
    cluster = _manifest("raycluster.yaml")
    assert job["kind"] == "RayJob"
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    python, script, *args = shlex.split(job["spec"]["entrypoint"])
    assert python == "python"
    # The image (cluster/Dockerfile) holds the repository at its WORKDIR.
    workdir = re.search(r"^WORKDIR (\S+)$", (REPO / "cluster" / "Dockerfile").read_text(), re.MULTILINE)[1]
    assert script == f"{workdir}/jobs/pipeline.py"
    assert (REPO / Path(script).relative_to(workdir)).is_file()
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--root"].startswith("s3://")
    assert load_config(options["--config"]).ray.training_label is not None
    assert isinstance(yaml.safe_load(job["spec"]["runtimeEnvYAML"]), dict)


def test_rayservice_serves_the_repositorys_serve_config():
    service = _manifest("rayservice.yaml")
    assert service["kind"] == "RayService"
    embedded = yaml.safe_load(service["spec"]["serveConfigV2"])
    local = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())
    # Identical apart from the values a pod needs: its own address, an encoder and config every pod reads.
    assert embedded["http_options"].pop("host") == "0.0.0.0"
    local["http_options"].pop("host", None)
    for app_embedded, app_local in zip(embedded["applications"], local["applications"], strict=True):
        site_args = {k: app_embedded["args"].pop(k) for k in ("config", "encoder", "overrides")}
        for key in site_args:
            app_local["args"].pop(key, None)
        assert site_args["encoder"].startswith("s3://")
        serve_cfg = load_config(site_args["config"], site_args["overrides"]).serve
        gpu_groups = [g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"] if _gpus(g)]
        assert serve_cfg.num_gpus > 0 and gpu_groups, "replicas need GPUs, and a worker group that has them"
        assert serve_cfg.autoscaling.max_replicas <= sum(g["maxReplicas"] * _gpus(g) for g in gpu_groups)
    assert embedded == local, "serve/config.yaml changed: run python cluster/kuberay/embed_serve_config.py"
    assert service["spec"]["rayClusterConfig"]["rayVersion"] == ray.__version__
    assert _images(service["spec"]["rayClusterConfig"]) == _images(_manifest("raycluster.yaml")["spec"])


def test_embedding_script_reproduces_the_committed_manifest():
    embedder = _embedder()
    manifest = (KUBERAY / "rayservice.yaml").read_text()
    block = yaml.safe_dump(embedder.for_kubernetes(yaml.safe_load(embedder.SERVE_CONFIG.read_text())), sort_keys=False)
    assert embedder.embed(manifest, block) == manifest


def test_embedding_replaces_only_the_block():
    embedder = _embedder()
    manifest = (
        "kind: RayService\nspec:\n  serveConfigV2: |\n    old: 1\n\n    older: 2\n  rayClusterConfig:\n    x: 1\n"
    )
    updated = embedder.embed(manifest, "applications:\n- name: a\n\n  args: {}\n")
    doc = yaml.safe_load(updated)
    assert doc["spec"]["serveConfigV2"] == "applications:\n- name: a\n\n  args: {}\n"
    assert doc["spec"]["rayClusterConfig"] == {"x": 1}
