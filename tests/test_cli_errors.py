"""Every subcommand given bad input: exactly one line of error naming the input, no traceback."""

from __future__ import annotations

import sys

import pytest

from flashbench.cli import command, main

MISSING = "/no/such/place"


def _leaf_commands(cmd=None, path=()):
    cmd = cmd or command()
    subs = getattr(cmd, "commands", {})
    if not subs:
        yield " ".join(path)
    for name, sub in subs.items():
        yield from _leaf_commands(sub, path + (name,))


# (arguments, a piece of the one error line: the input it names)
CASES = [
    (["build", "--source", "nosuch", "--out", MISSING], "nosuch"),
    (["build", "--source", "synth", "--out", MISSING, "--size", "big"], "--size"),
    (["validate", MISSING], MISSING),
    (["eval", "--model", "copy-paste", "--bench", MISSING], MISSING),
    (["eval", "--model", "no-such-model"], "no-such-model"),
    (["eval", "--model", "copy-paste", "--model-arg", "novalue"], "--model-arg"),
    (["eval", "--model", "copy-paste", "--limit", "0"], "--limit"),
    (["eval", "--model", "copy-paste", "--bogus"], "--bogus"),
    (["export", MISSING, "--out", MISSING], MISSING),
    (["generate", "--model", "copy-paste", "--maps", MISSING, "--first-frame", f"{MISSING}.png", "--out", f"{MISSING}.mkv"], MISSING),
    (["export", "--out", MISSING, "--size", "wide"], "--size"),
    (["tables", f"{MISSING}/results.json"], MISSING),
    (["reproduce", "tiny", "--bench", MISSING, "--only", "flashmotion-resnet"], MISSING),
    (["submit", MISSING], MISSING),
    (["ls", "nosuch"], "nosuch"),
    (["ls", "generators", "--format", "yaml"], "--format"),
    (["metrics", "fid", "--real", MISSING, "--fake", MISSING], MISSING),
    (["metrics", "fvd", "--real", MISSING, "--fake", MISSING], MISSING),
    (["leaderboard", "show", "--leaderboard", "{notadb}"], "notadb"),
    (["leaderboard", "render", "--out", MISSING, "--leaderboard", "{notadb}"], "notadb"),
    (["leaderboard", "serve", "--port", "70000"], "--port"),
    (["leaderboard", "add-token", "bob", "--leaderboard", "{notadb}"], "notadb"),
    (["leaderboard", "import-paper", "--leaderboard", "{notadb}"], "notadb"),
    (["train", "stage0", "--config", f"{MISSING}.yaml"], MISSING),
    (["train", "stage1", "--config", f"{MISSING}.yaml"], MISSING),
    (["train", "stage2", "--config", f"{MISSING}.yaml"], MISSING),
    (["train", "stage3", "--config", f"{MISSING}.yaml"], MISSING),
    (["train", "recipe", "nosuch"], "nosuch"),
    (["train", "recipe", "tiny-quick", "--out", MISSING, "--only", "stage9"], "stage9"),
    (["train", "baseline", "nosuch"], "nosuch"),
    (["train", "check", MISSING], MISSING),
    (["weights", "ls", "--bogus"], "--bogus"),
    (["weights", "download", "nosuch"], "nosuch"),
    (["weights", "import", "nosuch", MISSING], "nosuch"),
    (["weights", "verify", "nosuch"], "nosuch"),
    (["nosuch-command"], "nosuch-command"),
]


def run_cli(argv, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["flashbench", *argv])
    with pytest.raises(SystemExit) as exit_info:  # anything else escaping main() is a traceback
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_every_subcommand_has_a_bad_input_case():
    missing = [c for c in _leaf_commands() if not any(args[: len(c.split())] == c.split() for args, _ in CASES)]
    assert not missing, f"subcommands without a bad-input case: {missing}"


@pytest.mark.parametrize("argv,names", CASES, ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_without_traceback(argv, names, tmp_path, monkeypatch, capsys):
    notadb = tmp_path / "notadb.txt"
    notadb.write_text("not a database")
    argv = [a.replace("{notadb}", str(notadb)) for a in argv]
    code, out, err = run_cli(argv, monkeypatch, capsys)
    assert code not in (0, None), f"exit status {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line of error, got:\n{err}"
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
    assert "Traceback" not in out + err


def test_device_without_gpu_is_one_line(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run_cli(["eval", "--model", "copy-paste", "--device", "cuda"], monkeypatch, capsys)
    assert code == 2 and err.strip().splitlines() == [
        "error: --device cuda: no CUDA GPU is visible here; use --device cpu"
        if torch.version.cuda else
        f"error: --device cuda: torch {torch.__version__} here is a CPU-only build; use --device cpu"
    ]


def test_help_names_values_not_python_types(monkeypatch, capsys):
    for argv in (["--help"], ["eval", "--help"], ["export", "--help"], ["ls", "--help"]):
        code, out, _ = run_cli(argv, monkeypatch, capsys)
        assert code == 0
        assert "<bool>" not in out and "<str>" not in out and "<int" not in out and "<list" not in out, out
