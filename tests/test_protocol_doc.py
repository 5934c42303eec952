"""docs/protocol.md documents every field of the protocol object with its flashbench-v1 value."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from flashbench.protocol import DEFAULT, Protocol

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def test_every_protocol_field_is_documented_with_its_default():
    table = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `([^`]*)` \|", DOC.read_text(), re.M)}
    names = [f.name for f in fields(Protocol)]
    assert set(table) == set(names), f"fields documented but absent or absent from the doc: {set(table) ^ set(names)}"
    for name in names:
        assert json.loads(table[name]) == getattr(DEFAULT, name), name


def test_nothing_in_the_repository_cites_files_outside_it():
    root = DOC.parents[1]
    offenders = []
    for path in [*root.glob("flashbench/**/*.py"), *root.glob("docs/*.md"), root / "README.md"]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"PROTOCOL\.md|REFERENCE\.md|ARCHITECTURE\.md|shared/|\(PROTOCOL\b|PROTOCOL sections? \d", text):
            offenders.append(str(path.relative_to(root)))
    assert not offenders, offenders
