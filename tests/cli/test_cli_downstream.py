"""``synclr transfer``, ``finetune`` and ``segment`` as a user types them: bad input gets one line naming it."""


def test_transfer_names_the_config_field_a_dataset_lacks(synclr, tmp_path):
    ran = synclr("transfer", "-e", str(tmp_path), "-o", str(tmp_path / "o"), "-c", "paper-vitb16")
    assert ran.code == 1 and ran.err == "error: transfer.datasets 'imagenet' has no uri: set its uri or transfer.root"


def test_transfer_rejects_a_malformed_dataset_before_extracting_anything(synclr, ray_cluster, random_encoder, tmp_path):
    (tmp_path / "pets" / "train" / "cat").mkdir(parents=True)
    suite = f"transfer.datasets=[{{name: digits}}, {{name: pets, uri: '{tmp_path / 'pets'}'}}]"
    ran = synclr("transfer", "-e", random_encoder, "-o", str(tmp_path / "o"), "-s", suite)
    assert ran.code == 1 and ran.err.count("\n") == 0
    assert (
        ran.err
        == f"error: dataset {tmp_path / 'pets'}: missing split folder: needs train/ and val/ or test/, found ['train']"
    )
    assert not (tmp_path / "o" / "datasets").exists()


def test_finetune_rejects_an_empty_class_folder(synclr, ray_cluster, random_encoder, tmp_path):
    for split in ("train", "val"):
        (tmp_path / "data" / split / "cat").mkdir(parents=True)
    ran = synclr("finetune", "-e", random_encoder, "-d", str(tmp_path / "data"), "-o", str(tmp_path / "o"))
    assert (
        ran.code == 1
        and ran.err == f"error: dataset {tmp_path / 'data'}: empty class folder train/cat (no image files)"
    )


def test_segment_rejects_a_folder_without_the_ade20k_layout(synclr, ray_cluster, random_encoder, tmp_path):
    (tmp_path / "ade" / "images" / "training").mkdir(parents=True)
    ran = synclr("segment", "-e", random_encoder, "-d", str(tmp_path / "ade"), "-o", str(tmp_path / "o"))
    assert ran.code == 1 and ran.err == f"error: dataset {tmp_path / 'ade'}: images/training/ holds no image files"


def test_an_export_missing_its_weights_is_named(synclr, tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "config.json").write_text("{}")
    ran = synclr("segment", "-e", str(tmp_path / "export"), "-d", "x", "-o", str(tmp_path / "o"))
    assert (
        ran.code == 1
        and ran.err == f"error: encoder {tmp_path / 'export'} lacks model.safetensors (expected an export directory)"
    )
