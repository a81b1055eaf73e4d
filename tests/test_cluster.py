import ray

from synclr_ray.cluster import init_ray, label_selector
from synclr_ray.config import load_config


def test_init_ray_reuses_the_running_cluster(ray_cluster):
    before = ray.get_runtime_context().get_job_id()
    init_ray(load_config("tiny").ray)
    assert ray.get_runtime_context().get_job_id() == before
    assert ray.cluster_resources()["CPU"] >= 4


def test_label_selector():
    assert label_selector(None) is None
    assert label_selector("data") == {"ray-subcluster": "data"}
