"""``synclr pca`` and ``synclr probe`` as a user types them."""

from PIL import Image


def test_pca_takes_image_files_as_arguments(synclr, random_encoder, tmp_path):
    images = []
    for i in range(3):
        images.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (32, 32), (80 * i, 40, 120)).save(images[-1])
    out = tmp_path / "fig.png"
    ran = synclr("pca", "--encoder", random_encoder, "--out", str(out), "-s", "eval.pca_tile=32", *images)
    assert ran.code == 0, ran.err
    assert Image.open(out).size == (3 * 32, 24 + 3 * 32)


def test_probe_errors_are_one_line(synclr, ray_cluster, tmp_path):
    (tmp_path / "data" / "train" / "a").mkdir(parents=True)
    ran = synclr("probe", "--encoder", str(tmp_path), "--dataset", str(tmp_path / "data"))
    assert ran.code == 1 and ran.err.count("\n") == 0 and "lacks model.safetensors, config.json" in ran.err
