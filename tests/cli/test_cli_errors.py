"""A failing command ends with one line naming the problem, even when the error came back from a Ray worker."""

import pytest
import ray

from synclr_ray.cli import one_line


def test_a_remote_traceback_becomes_one_line_ending_with_its_exception(ray_cluster):
    @ray.remote(num_cpus=0)
    def fails() -> None:
        raise ValueError("images.model 'x' cannot be loaded")

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(fails.remote())
    assert str(info.value).count("\n") > 2  # Ray's message carries the worker's traceback
    line = one_line(info.value)
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("ray::") and line.endswith("ValueError: images.model 'x' cannot be loaded")


def test_a_plain_message_is_kept_as_it_is():
    assert (
        one_line(ValueError("config field 'train.steps': must be >= 1")) == "config field 'train.steps': must be >= 1"
    )
    assert one_line(KeyError()) == "KeyError"


def test_a_failing_command_called_in_process_leaves_the_callers_ray_session_up(synclr, ray_cluster, tmp_path):
    cpus = ray.cluster_resources()["CPU"]
    ran = synclr("images", "--root", str(tmp_path))
    assert ran.code == 1 and ran.err.startswith("error: no committed caption files")
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == cpus  # the same session, not a new default one
