"""cluster/kuberay/: the manifests parse and carry what the stages and the Serve app need."""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
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


def _cluster_specs() -> dict[str, dict]:
    return {
        "raycluster.yaml": _manifest("raycluster.yaml")["spec"],
        "rayservice.yaml": _manifest("rayservice.yaml")["spec"]["rayClusterConfig"],
    }


def _templates(spec: dict) -> list[dict]:
    return [g["template"] for g in (spec["headGroupSpec"], *spec["workerGroupSpecs"])]


def _all_docs(name: str) -> list[dict]:
    return list(yaml.safe_load_all((KUBERAY / name).read_text()))


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayservice.yaml"])
def test_ray_token_auth_is_on_and_no_secret_is_an_env_var(name):
    spec = _cluster_specs()[name]
    assert spec["authOptions"] == {"mode": "token"}, "KubeRay creates the token Secret and hands it to every pod"
    for template in _templates(spec):
        for container in template["spec"]["containers"]:
            names = [env["name"] for env in container.get("env", [])]
            assert not [n for n in names if "TOKEN" in n or "SECRET" in n or "KEY" in n], names


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayservice.yaml"])
def test_pods_run_non_root_without_privileges_on_a_read_only_root(name):
    for template in _templates(_cluster_specs()[name]):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
            assert security["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], "Ray's session dir needs a writable /tmp"
            assert "emptyDir" in volumes[mounts["/home/ray/.cache"]], "models are cached under ~/.cache"
            assert "emptyDir" in volumes[mounts["/home/ray/.config"]], "libraries write settings under ~/.config"
            shm = volumes[mounts["/dev/shm"]]["emptyDir"]  # the object store: a container's default is 64 MiB
            assert shm["medium"] == "Memory" and shm["sizeLimit"]


def test_serve_replicas_read_their_token_from_a_mounted_secret():
    service = _manifest("rayservice.yaml")["spec"]
    (app,) = yaml.safe_load(service["serveConfigV2"])["applications"]
    scfg = load_config(app["args"]["config"], app["args"]["overrides"]).serve
    assert scfg.auth == "required" and scfg.host == "0.0.0.0"
    token_dir = str(Path(scfg.auth_token_file).parent)
    for group in service["rayClusterConfig"]["workerGroupSpecs"]:
        pod = group["template"]["spec"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == token_dir]
        assert mount["readOnly"] is True
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "synclr-serve-token"
        assert volume["secret"]["defaultMode"] & 0o007 == 0, "not world-readable"


def test_network_policies_admit_the_dashboard_from_the_operator_and_serve_from_clients_only():
    policies = {
        p["spec"]["podSelector"]["matchLabels"]["synclr-ray/cluster"]: p for p in _all_docs("networkpolicy.yaml")
    }
    for name, spec in _cluster_specs().items():
        labels = {t["metadata"]["labels"]["synclr-ray/cluster"] for t in _templates(spec)}
        assert len(labels) == 1, f"{name}: every pod of a cluster carries the same synclr-ray/cluster label"
        policy = policies[labels.pop()]["spec"]
        assert policy["policyTypes"] == ["Ingress"]
        by_port = {}
        for rule in policy["ingress"]:
            assert rule.get("from"), "a rule without `from` admits everyone"
            ports = [p["port"] for p in rule.get("ports", [])] or ["any"]
            for port in ports:
                by_port.setdefault(port, []).extend(rule["from"])
        own = {"podSelector": {"matchLabels": policy["podSelector"]["matchLabels"]}}
        assert by_port["any"] == [own], "only the cluster's own pods reach every port"
        (operator,) = by_port[8265]
        assert operator["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kuberay-system"}
        assert operator["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "kuberay-operator"}
        if name == "rayservice.yaml":
            (clients,) = by_port[8000]
            assert set(clients) == {"namespaceSelector"} and clients["namespaceSelector"]["matchLabels"]
        assert set(by_port) <= {"any", 8265, 8000}


def test_rayjob_is_submitted_by_the_operator_and_pods_use_their_own_accounts():
    assert _manifest("rayjob.yaml")["spec"]["submissionMode"] == "HTTPMode"
    accounts = {a["metadata"]["name"]: a for a in _all_docs("serviceaccounts.yaml")}
    assert accounts["synclr-ray-worker"]["automountServiceAccountToken"] is False
    for spec in _cluster_specs().values():
        assert spec["headGroupSpec"]["template"]["spec"]["serviceAccountName"] == "synclr-ray-head"
        assert {g["template"]["spec"]["serviceAccountName"] for g in spec["workerGroupSpecs"]} == {"synclr-ray-worker"}
    assert set(accounts) == {"synclr-ray-head", "synclr-ray-worker"}


def test_every_serve_config_gives_the_proxy_the_apps_request_timeout():
    """The proxy's end-to-end limit (408) and the replica's body deadline are one setting, serve.request_timeout_s."""
    service = yaml.safe_load(_manifest("rayservice.yaml")["spec"]["serveConfigV2"])
    local = yaml.safe_load((KUBERAY.parents[1] / "serve" / "config.yaml").read_text())
    for serve_config in (service, local):
        (app,) = serve_config["applications"]
        scfg = load_config(app["args"]["config"], app["args"].get("overrides", [])).serve
        assert serve_config["http_options"]["request_timeout_s"] == scfg.request_timeout_s
