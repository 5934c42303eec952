"""`flashbench submit`: pack a run directory into a submission archive and send it to a leaderboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError


def find_manifest(manifest_hash: str, bench: Path | None) -> dict:
    """The benchmark manifest with ``manifest_hash``: from ``--bench``, else from the benchmarks in the cache."""
    from .. import paths
    from ..utils.atomic import sha256_json

    candidates = [bench] if bench is not None else sorted(paths.benchmarks_dir().glob("*")) if paths.benchmarks_dir().is_dir() else []
    for d in candidates:
        f = Path(d) / "manifest.json"
        if f.is_file():
            try:
                manifest = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if sha256_json(manifest) == manifest_hash:
                return manifest
    where = f"--bench {bench}" if bench is not None else f"the benchmarks in {paths.benchmarks_dir()}"
    raise InputError(f"no benchmark manifest with hash {manifest_hash[:16]}… in {where}; pass --bench DIR, the benchmark the run evaluated")


def register(app: typer.Typer) -> None:
    @app.command("submit")
    def submit(
        run_dir: Path = typer.Argument(..., help="A finished `flashbench eval` run directory."),
        leaderboard: Optional[str] = typer.Option(None, "--leaderboard", help="A local store file (PATH) or a server (URL); default: the store in the cache."),
        token: Optional[str] = typer.Option(None, "--token", envvar="FLASHBENCH_TOKEN", help="API token for a server (env FLASHBENCH_TOKEN)."),
        model_name: Optional[str] = typer.Option(None, "--model-name", help="Name shown on the board (default: the run's label)."),
        generated_by: str = typer.Option("unknown", "--generated-by", help="Who generated the videos."),
        evaluated_by: str = typer.Option("unknown", "--evaluated-by", help="Who ran the evaluation."),
        code: str = typer.Option("", "--code", help="Code reference (URL and commit)."),
        checkpoint: str = typer.Option("", "--checkpoint", help="Checkpoint reference (URL or hash)."),
        nfe: Optional[int] = typer.Option(None, "--nfe", min=0, help="Network evaluations per video (default: the generator's)."),
        hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware the latency was measured on (default: the run's)."),
        latency: Optional[float] = typer.Option(None, "--latency", min=0, help="Denoising latency in seconds (default: the run's mean)."),
        notes: str = typer.Option("", "--notes", help="Free text shown with the entry."),
        new_version_of: Optional[int] = typer.Option(None, "--new-version-of", min=1, help="Entry id this submission replaces."),
        bench: Optional[Path] = typer.Option(None, "--bench", help="Benchmark directory the run evaluated (default: found in the cache by manifest hash)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Also write the archive to this file."),
    ) -> None:
        """Pack RUN_DIR (results, per-video rows, feature statistics, metadata) and send it to a leaderboard."""
        from pydantic import ValidationError

        from leaderboard.archive import members_from_run, pack
        from leaderboard.client import is_url, send
        from leaderboard.schema import SubmitterMetadata

        from .. import paths
        from ..results import load_results
        from ..utils.atomic import atomic_write_bytes

        results = load_results(run_dir)
        try:
            metadata = SubmitterMetadata(
                model_name=model_name or results.get("label") or results["generator"]["name"],
                generated_by=generated_by, evaluated_by=evaluated_by, code=code, checkpoint=checkpoint,
                nfe=results["generator"]["nfe"] if nfe is None else nfe,
                hardware=hardware if hardware is not None else str(results["environment"].get("hardware") or results["environment"].get("device") or ""),
                denoise_latency_s=latency if latency is not None else results["timings"].get("denoise_s_mean"),
                notes=notes, new_version_of=new_version_of,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(f"submitter metadata: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        manifest = find_manifest(results["benchmark"]["manifest_hash"], bench)
        archive = pack(members_from_run(run_dir, manifest, paths.home() / "features"), metadata)
        if out is not None:
            atomic_write_bytes(out, archive)
            typer.echo(f"archive: {out} ({len(archive)} bytes)")
        target = leaderboard or str(default_store())
        stored = send(archive, target, token)
        board = "ranked board" if stored["board"] == "ranked" else "unofficial board"
        partial = "" if stored["complete"] else ", partial (not ranked)"
        typer.echo(f"stored as entry {stored['id']} on the {board}{partial} of {target if is_url(target) else Path(target)}")
        for note in stored.get("notes", []):
            typer.echo(f"  note: {note}")


def default_store() -> Path:
    from .. import paths

    return paths.home() / "leaderboard" / "leaderboard.db"
