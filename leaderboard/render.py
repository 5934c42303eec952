"""Markdown tables and a static HTML site of the leaderboard.

Every user-supplied string (model names, people, references, notes) is escaped for the
output it goes into; the site's only script is inline, pinned by hash in a
Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from flashbench.data.schema import GROUPS

from .ranking import COLUMNS, SCOPES, Board, Row, boards, entry_marks, fmt

HEADERS = {"fid": "FID ↓", "fvd": "FVD ↓", "mask_iou": "M IoU ↑", "box_iou": "B IoU ↑"}
SCOPE_TITLES = {"overall": "Overall", **{g: f"{g} object{'s' if g != '1' else ''}" for g in GROUPS}}
LEGEND = "† proxy extractors: not comparable to the paper · ‡ tiny reference checkpoint"


def md_escape(text: Any) -> str:
    """A user string as literal Markdown table text (no markup, no HTML, no pipes)."""
    s = html.escape(str(text), quote=True).replace("\n", " ").replace("\r", " ")
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", s)


def entry_name(entry: Mapping[str, Any]) -> str:
    return f"{entry['metadata']['model_name']}{entry_marks(entry)}"


# ----------------------------------------------------------------------------- markdown


def _md_table(rows: Sequence[Row]) -> list[str]:
    out = ["| # | Model | " + " | ".join(HEADERS[c] for c in COLUMNS) + " | NFE | entry |",
           "|---:|:---|" + "---:|" * len(COLUMNS) + "---:|---:|"]
    for r in rows:
        cells = [fmt(r.values[c], r.cis.get(c)) for c in COLUMNS]
        out.append(f"| {r.rank} | {md_escape(entry_name(r.entry))} | " + " | ".join(cells)
                   + f" | {r.entry['metadata']['nfe']} | {r.entry['id']} |")
    return out


def _board_title(b: Board) -> str:
    return f"{md_escape(b.benchmark)} (manifest {b.manifest_hash[:12]}, protocol {b.protocol_hash})"


def render_markdown(entries: Sequence[Mapping[str, Any]], paper: Sequence[Mapping[str, Any]] = (), *, scopes: Sequence[str] = SCOPES) -> str:
    lines = ["# FlashBench leaderboard", "", LEGEND, ""]
    if not entries:
        lines += ["No evaluated entries yet.", ""]
    for b in boards(entries):
        lines += [f"## {_board_title(b)}", ""]
        for kind, title in (("ranked", "Ranked (official extractors, every video)"), ("unofficial", "Unofficial (proxy extractors or reference checkpoints; not ranked with the official board)")):
            tables = getattr(b, kind)
            if not tables:
                continue
            lines += [f"### {title}", ""]
            for s in scopes:
                if tables.get(s):
                    lines += [f"#### {SCOPE_TITLES[s]}", "", *_md_table(tables[s]), ""]
        if b.partial:
            lines += ["### Partial (not every video evaluated; not ranked)", ""]
            lines += [f"* entry {e['id']}: {md_escape(entry_name(e))}" for e in b.partial] + [""]
    if paper:
        lines += ["## Reported in paper, not re-evaluated", "",
                  "Published numbers of the FlashMotion paper (Tables 1, 7, 8); never ranked with evaluated entries.", ""]
        lines += _md_paper(paper)
    return "\n".join(lines).rstrip() + "\n"


def _md_paper(paper: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for (bench, grp), rows in _paper_groups(paper).items():
        out += [f"### {bench}, {SCOPE_TITLES.get(grp, grp)}", "", "| Section | Method | FID | FVD | M IoU | B IoU | Denoising (s) | Params (B) |",
                "|:---|:---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            vals = [fmt(r[k]) for k in ("fid", "fvd", "mask_iou", "box_iou", "denoise_s", "params_b")]
            if r["note"]:
                vals[0] = md_escape(r["note"])
            out.append(f"| {md_escape(r['section'])} | {md_escape(r['method'])} | " + " | ".join(vals) + " |")
        out.append("")
    return out


def _paper_groups(paper: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in paper:
        out.setdefault((r["benchmark"], r["grp"]), []).append(r)
    return out


# ----------------------------------------------------------------------------- HTML

_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
      var nx = parseFloat(x), ny = parseFloat(y), c;
      if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; }
      else if (isNaN(nx) !== isNaN(ny)) { c = isNaN(nx) ? 1 : -1; }
      else { c = String(x).localeCompare(String(y)); }
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
td.name,th.name{text-align:left}
th{cursor:pointer;background:#f3f3f3;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"} th[aria-sort=descending]::after{content:" ▼"}
details{margin:0.3em 0} .note{color:#555}
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    return f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'self'"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell(value: float | None, ci: list[float] | None = None) -> str:
    return f'<td data-v="{"" if value is None else repr(float(value))}">{_e(fmt(value, ci))}</td>'


def _html_table(rows: Sequence[Row], table_id: str) -> str:
    head = ('<tr><th>#</th><th class="name">Model</th>' + "".join(f"<th>{_e(HEADERS[c])}</th>" for c in COLUMNS)
            + "<th>NFE</th><th>Latency (s)</th><th>entry</th></tr>")
    body = []
    for r in rows:
        md = r.entry["metadata"]
        body.append(
            f'<tr><td data-v="{r.rank}">{r.rank}</td><td class="name" data-v="{_e(entry_name(r.entry))}">'
            f'<a href="#entry-{r.entry["id"]}">{_e(entry_name(r.entry))}</a></td>'
            + "".join(_cell(r.values[c], r.cis.get(c)) for c in COLUMNS)
            + f'<td data-v="{md["nfe"]}">{md["nfe"]}</td>' + _cell(md.get("denoise_latency_s"))
            + f'<td data-v="{r.entry["id"]}">{r.entry["id"]}</td></tr>')
    return f'<table class="sortable" id="{_e(table_id)}"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _provenance(e: Mapping[str, Any]) -> str:
    md, res = e["metadata"], e["results"]
    ext = "; ".join(f"{role}: {x['name']} {x['sha256']}" for role, x in res["extractors"].items())
    items = [
        ("model", entry_name(e)), ("generated by", md["generated_by"]), ("evaluated by", md["evaluated_by"]),
        ("code", md.get("code") or "–"), ("checkpoint", md.get("checkpoint") or "–"),
        ("checkpoint sha256", res["generator"].get("checkpoint_sha256") or "–"), ("NFE", md["nfe"]),
        ("hardware", md.get("hardware") or "–"), ("denoising latency (s)", fmt(md.get("denoise_latency_s"))),
        ("protocol hash", res["protocol_hash"]), ("extractor hashes", ext), ("benchmark", f"{e['benchmark_name']} {e['manifest_hash']}"),
        ("submitted", f"{e['submitted_at']} by {e['submitter']}"), ("archive sha256", e["archive_sha256"]),
        ("notes", "; ".join([md.get("notes") or ""] + list(e["notes"])).strip("; ") or "–"),
    ]
    rows = "".join(f"<tr><th class=\"name\">{_e(k)}</th><td class=\"name\">{_e(v)}</td></tr>" for k, v in items)
    return f'<details id="entry-{e["id"]}"><summary>entry {e["id"]}: {_e(entry_name(e))}</summary><table>{rows}</table></details>'


def render_html(entries: Sequence[Mapping[str, Any]], paper: Sequence[Mapping[str, Any]] = (),
                plots: Mapping[int, Sequence[str]] | None = None) -> str:
    """The whole site as one page; ``plots`` maps a board's index to image files beside the page."""
    parts = [f"<h1>FlashBench leaderboard</h1><p class=\"note\">{_e(LEGEND)}. Click a column header to sort.</p>"]
    if not entries:
        parts.append("<p>No evaluated entries yet.</p>")
    for i, b in enumerate(boards(entries)):
        parts.append(f"<h2>{_e(b.benchmark)} <small>manifest {_e(b.manifest_hash[:12])}, protocol {_e(b.protocol_hash)}</small></h2>")
        for kind, title in (("ranked", "Ranked (official extractors, every video)"),
                            ("unofficial", "Unofficial (proxy extractors or reference checkpoints; not ranked with the official board)")):
            tables = getattr(b, kind)
            if not tables:
                continue
            parts.append(f"<h3>{_e(title)}</h3>")
            for s in SCOPES:
                if tables.get(s):
                    parts.append(f"<h4>{_e(SCOPE_TITLES[s])}</h4>" + _html_table(tables[s], f"b{i}-{kind}-{s}"))
        for src in (plots or {}).get(i, ()):
            parts.append(f'<img src="{_e(src)}" alt="metrics by object count" width="640">')
        if b.partial:
            parts.append("<h3>Partial (not every video evaluated; not ranked)</h3><ul>"
                         + "".join(f"<li>entry {e['id']}: {_e(entry_name(e))}</li>" for e in b.partial) + "</ul>")
        parts.append("<h3>Provenance</h3>" + "".join(_provenance(e) for e in entries
                                                     if (e["manifest_hash"], e["protocol_hash"]) == (b.manifest_hash, b.protocol_hash)))
    if paper:
        parts.append("<h2 id=\"paper\">Reported in paper, not re-evaluated</h2><p class=\"note\">Published numbers of the FlashMotion "
                     "paper (Tables 1, 7, 8), never ranked with evaluated entries.</p>")
        for j, ((bench, grp), rows) in enumerate(_paper_groups(paper).items()):
            head = "<tr><th class=\"name\">Section</th><th class=\"name\">Method</th><th>FID</th><th>FVD</th><th>M IoU</th><th>B IoU</th><th>Denoising (s)</th><th>Params (B)</th></tr>"
            body = "".join(
                f"<tr><td class=\"name\" data-v=\"{_e(r['section'])}\">{_e(r['section'])}</td><td class=\"name\" data-v=\"{_e(r['method'])}\">{_e(r['method'])}</td>"
                + "".join(_cell(r[k]) for k in ("fid", "fvd", "mask_iou", "box_iou", "denoise_s", "params_b")) + "</tr>"
                for r in rows)
            parts.append(f"<h4>{_e(bench)}, {_e(SCOPE_TITLES.get(grp, grp))}</h4><table class=\"sortable\" id=\"paper-{j}\">"
                         f"<thead>{head}</thead><tbody>{body}</tbody></table>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_csp()}\"><title>FlashBench leaderboard</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}<script>{_SCRIPT}</script></body></html>\n")


def render_site(entries: Sequence[Mapping[str, Any]], paper: Sequence[Mapping[str, Any]], out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write ``index.html``, ``leaderboard.md`` and per-board plots by object count into ``out_dir``."""
    from flashbench.utils.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[int, list[str]] = {}
    written: list[Path] = []
    if plots:
        from flashbench.report.plots import plot_by_object_count

        for i, b in enumerate(boards(entries)):
            shown = [r.entry for kind in ("ranked", "unofficial") for r in getattr(b, kind).get("overall", [])]
            if shown and any(len(e["results"]["groups"]) > 1 for e in shown):
                labels = [entry_name(e).replace("$", r"\$") for e in shown]  # no mathtext from user strings
                paths = plot_by_object_count([e["results"] for e in shown], out / f"board{i}", labels=labels, formats=("svg",))
                images[i] = [p.relative_to(out).as_posix() for p in paths]
                written += paths
    for name, text in (("index.html", render_html(entries, paper, images)), ("leaderboard.md", render_markdown(entries, paper))):
        atomic_write_text(out / name, text)
        written.append(out / name)
    return written
