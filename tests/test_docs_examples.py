"""The plug-in example of docs/evaluate-your-model.md works as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "evaluate-your-model.md"


def test_plugin_example_runs_as_written(tiny_bench, tmp_path, monkeypatch):
    from flashbench.data.benchmark import Benchmark
    from flashbench.evaluate import Plan, build_request, check_output, frame_alignment
    from flashbench.generators.base import as_generated
    from flashbench.generators.registry import load_generator
    from flashbench.protocol import DEFAULT

    text = DOC.read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith("# mypkg/flashbench_plugin.py"))
    command = re.search(r"^PYTHONPATH=\. flashbench eval --model (\S+) --model-arg (\S+)$", text, re.M)
    assert command, "the doc shows the command that runs the plug-in without installing it"
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "flashbench_plugin.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))  # what PYTHONPATH=. does from that folder

    key, _, value = command.group(2).partition("=")
    gen = load_generator(command.group(1), benchmark=str(tiny_bench), **{key: value})
    bench = Benchmark.open(tiny_bench)
    items = bench.select(("1",))
    p = Plan(bench, DEFAULT, items, *frame_alignment(bench, items, DEFAULT, gen.info.max_frames), tmp_path, {}, False)
    req = build_request(bench.sample(items[0].video_id), p, seed=0)
    out = as_generated(gen.generate([req])[0])
    frames, resized = check_output(out.frames, req)
    assert frames.shape == (req.num_frames, req.height, req.width, 3) and not resized
    assert out.denoise_seconds is not None and gen.info.nfe == 4
