"""One CLI vocabulary: an option name (and its short form) means the same thing on every `synclr` command."""

import typer

from synclr_ray.cli import app

# Long name -> its one short form (None: no short form) wherever a command has the option.
VOCABULARY = {
    "--root": "-r",  # a run root
    "--config": "-c",  # preset or YAML
    "--set": "-s",  # dotted config override
    "--encoder": "-e",  # an encoder export
    "--dataset": "-d",  # an evaluation or fine-tuning dataset
    "--out": "-o",  # where the command's output goes
    "--num-captions": "-n",  # a number of captions
    "--images": None,  # a folder of image rows (ROOT/images, ROOT/stream)
    "--allow-change": None,
    "--processes": "-p",  # processes working at once
}
RETIRED = {"--json", "--rows", "-i"}  # old spellings: probe --json is --out, show --rows is --num-captions,
# pca --images/-i FILES are plain arguments (like embed's)


def _options() -> dict[str, list[list[str]]]:
    group = typer.main.get_command(app)  # typer's own click: compare by kind, not by class
    return {
        name: [p.opts for p in command.params if p.param_type_name == "option"]
        for name, command in group.commands.items()
    }


def test_every_option_name_has_one_meaning_and_one_short_form():
    for command, options in _options().items():
        for opts in options:
            assert not RETIRED & set(opts), f"synclr {command}: {opts} is a retired spelling"
            longs = [o for o in opts if o.startswith("--")]
            shorts = [o for o in opts if not o.startswith("--")]
            for name in longs:
                if name in VOCABULARY:
                    assert shorts == ([VOCABULARY[name]] if VOCABULARY[name] else []), f"synclr {command} {opts}"
            for short in shorts:
                owners = [long for long, s in VOCABULARY.items() if s == short]
                assert owners and owners[0] in longs, f"synclr {command}: {short} must mean {owners or 'nothing'}"


def test_stage_commands_share_the_run_root_options(synclr):
    options = _options()
    for command in ("captions", "images", "pretrain", "pipeline", "demo"):
        names = {o for opts in options[command] for o in opts}
        assert {"--root", "--config", "--set", "--allow-change", "--take-over-stale-lease"} <= names, command
    helped = synclr("pretrain", "--help")
    assert helped.code == 0 and "the run root's config" in " ".join(
        helped.out.split()
    )  # --config's default is said in --help
