"""``synclr models`` as a user types it: prints where each built-in artefact is, builds nothing twice."""

from synclr_ray import storage


def test_models_prints_each_artefact_in_the_cache(synclr):
    path = storage.local_copy("builtin://toyworld")  # built once per machine, like `make models` does
    ran = synclr("models", "toyworld")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [f"builtin://toyworld: {path}"]  # found built: no "built ..." line


def test_an_unknown_artefact_is_named_with_the_known_ones(synclr):
    ran = synclr("models", "nope")
    assert ran.code == 1
    assert "unknown built-in artefact builtin://nope" in ran.err and "tiny-sd15" in ran.err
