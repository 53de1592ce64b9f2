"""`provision report -o report.html`: one self-contained page of a run, read from the history store.

A heatmap of hosts x roles coloured by each cell's worst status; clicking a cell (or opening the
page at `#c-ROW-COL`) shows that host's results for that role with messages and diffs; then the
gpu_verify figures with an inline SVG sparkline of each host's TFLOPS over past runs.

The easy thing to get wrong is escaping: task names, messages and diffs come from hosts and users,
so every piece of text goes through `html.escape` and the details are rendered here, not built by
JavaScript from data. The page loads nothing from anywhere (its CSP says so); its script only
shows and hides, and leaves `#provision-ready` with the count of script errors, which the
headless-browser test reads.
"""
from __future__ import annotations

import datetime
from html import escape
from typing import Any, Iterable

from provision.history import Figures, tflops_drops

RANK = {"failed": 4, "unreachable": 4, "drift": 3, "changed": 3, "ok": 2, "skipped": 1}
PLAY_ROLE = "play"

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.meta{color:#555}.meta b{color:#222}
table{border-collapse:collapse}th,td{padding:.25em .6em;text-align:left;vertical-align:top}
.heatmap th{font-weight:600;background:#eee;position:sticky;top:0}
.heatmap td.host{font-weight:600;white-space:nowrap}
.cell{min-width:5.5em;text-align:center;cursor:pointer;border:2px solid #fff;border-radius:4px}
.cell:focus,.cell.selected{outline:3px solid #1a4d8f}
.s-failed,.s-unreachable{background:#d9534f;color:#fff}.s-unreachable{background:#8e44ad}
.s-drift{background:#f0ad4e}.s-changed{background:#f7d774}.s-ok{background:#5cb85c;color:#fff}
.s-skipped{background:#cfe3ef}.s-none{background:#f0f0f0;color:#999;cursor:default}
.legend span{display:inline-block;padding:.1em .6em;margin-right:.3em;border-radius:3px}
.detail{background:#fff;border:1px solid #ccc;border-radius:4px;padding:.6em 1em;margin-top:1em}
.detail table td{border-top:1px solid #eee}
pre{background:#f4f4f4;padding:.4em;margin:.3em 0;overflow-x:auto;max-width:70em}
.add{color:#1e7d32}.del{color:#b71c1c}.hunk{color:#555}
.drop{color:#b71c1c;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
"""

SCRIPT = """
(function(){
  var ready=document.createElement('div');ready.id='provision-ready';ready.hidden=true;
  ready.setAttribute('data-errors','0');
  window.addEventListener('error',function(){
    ready.setAttribute('data-errors',String(Number(ready.getAttribute('data-errors'))+1));});
  function show(cell){
    if(!cell||!cell.classList.contains('cell')||!cell.getAttribute('data-detail'))return;
    var cells=document.querySelectorAll('.cell.selected');
    for(var i=0;i<cells.length;i++)cells[i].classList.remove('selected');
    var panels=document.querySelectorAll('.detail');
    for(var j=0;j<panels.length;j++)panels[j].hidden=true;
    cell.classList.add('selected');
    var panel=document.getElementById(cell.getAttribute('data-detail'));
    if(panel){panel.hidden=false;ready.setAttribute('data-shown',panel.id);}
  }
  var all=document.querySelectorAll('.cell');
  for(var k=0;k<all.length;k++){
    all[k].addEventListener('click',function(e){show(e.currentTarget);});
    all[k].addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();show(e.currentTarget);}});
  }
  function fromHash(){if(location.hash.length>1)show(document.getElementById(decodeURIComponent(location.hash.slice(1))));}
  window.addEventListener('hashchange',fromHash);
  try{fromHash();}finally{
    ready.setAttribute('data-cells',String(all.length));document.body.appendChild(ready);}
})();
"""


def role_of(task: str) -> str:
    """The role part of a display name "role : task"; play-level tasks group under "play"."""
    role, separator, _ = task.partition(" : ")
    return role.strip() if separator and role.strip() else PLAY_ROLE


def state_of(result: Any) -> str:
    """A result's colour: drift is a change seen in check mode; an ignored failure counts as ok."""
    if result.status in ("failed", "unreachable") and getattr(result, "ignored", False):
        return "ok"
    if result.status == "failed" and getattr(result, "drift", False):  # a check that failed in a drift check
        return "drift"
    if result.status == "changed":
        drift = getattr(result, "drift", None)
        if drift is None:
            drift = getattr(result, "check", False)
        return "drift" if drift else "changed"
    return result.status if result.status in RANK else "ok"


def worst(states: Iterable[str]) -> str:
    return max(states, key=lambda state: RANK.get(state, 0), default="none")


def render_html(run: Any, results: list[Any], figures: list[Figures], trend: list[Figures]) -> str:
    """The whole page. `run` is a history Run; results its StoredResults (TaskResults work too)."""
    hosts = sorted({result.host for result in results} | {figure.host for figure in figures})
    roles: list[str] = []
    for result in results:
        if role_of(result.task) not in roles:
            roles.append(role_of(result.task))
    grouped: dict[tuple[str, str], list[Any]] = {}
    for result in results:
        grouped.setdefault((result.host, role_of(result.task)), []).append(result)
    title = f"provision run {getattr(run, 'id', '')}: {getattr(run, 'command', '')}"
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        # Nothing may load from outside the file: the report is read on machines without network.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>", _summary(run, results),
        _legend(), "<h2>Hosts x roles</h2>", _heatmap(hosts, roles, grouped),
        "<p class=\"meta\">Click a cell to see its tasks, messages and diffs.</p>",
        _details(hosts, roles, grouped), _figures(figures, trend),
        f"<script>{SCRIPT}</script></body></html>\n",
    ]
    return "\n".join(parts)


def _summary(run: Any, results: list[Any]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[state_of(result)] = counts.get(state_of(result), 0) + 1
    items = [
        ("status", getattr(run, "status", "")), ("exit code", getattr(run, "exit_code", "")),
        ("check mode", "yes" if getattr(run, "check", False) else "no"), ("slices", getattr(run, "slice_label", "")),
        ("inventory", getattr(run, "inventory", "")), ("playbook", getattr(run, "playbook", "")),
        ("started", _when(getattr(run, "started", None))), ("finished", _when(getattr(run, "finished", None))),
    ]
    text = " &middot; ".join(f"{escape(label)} <b>{escape(str(value))}</b>" for label, value in items if value != "")
    tally = ", ".join(f"{count} {escape(state)}" for state, count in sorted(counts.items()))
    return f"<p class=\"meta\">{text}</p><p class=\"meta\">results: {tally or 'none'}</p>"


def _legend() -> str:
    spans = "".join(f"<span class=\"s-{state}\">{state}</span>" for state in
                    ("failed", "unreachable", "drift", "changed", "ok", "skipped", "none"))
    return f"<p class=\"legend\">{spans}</p>"


def _heatmap(hosts: list[str], roles: list[str], grouped: dict) -> str:
    head = "".join(f"<th scope=\"col\">{escape(role)}</th>" for role in roles)
    rows = [f"<table class=\"heatmap\"><thead><tr><th>host</th>{head}</tr></thead><tbody>"]
    for row, host in enumerate(hosts):
        cells = []
        for column, role in enumerate(roles):
            items = grouped.get((host, role), [])
            state = worst(state_of(result) for result in items)
            attributes = (f"class=\"cell s-{state}\" id=\"c-{row}-{column}\" data-host=\"{escape(host)}\" "
                          f"data-role=\"{escape(role)}\" data-status=\"{state}\"")
            if items:
                label = f"{state} ({len(items)})"
                attributes += (f" data-detail=\"d-{row}-{column}\" tabindex=\"0\" "
                               f"title=\"{escape(host)} / {escape(role)}\"")
            else:
                label = "&ndash;"
            cells.append(f"<td {attributes}>{label}</td>")
        rows.append(f"<tr><td class=\"host\">{escape(host)}</td>{''.join(cells)}</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _details(hosts: list[str], roles: list[str], grouped: dict) -> str:
    panels = []
    for row, host in enumerate(hosts):
        for column, role in enumerate(roles):
            items = grouped.get((host, role))
            if not items:
                continue
            lines = []
            for result in items:
                state = state_of(result)
                label = "failed (ignored)" if getattr(result, "ignored", False) and result.status == "failed" else state
                where = f"{result.file}:{result.line}" if result.file else ""
                body = f"<div>{escape(result.msg)}</div>" if result.msg else ""
                if result.diff:
                    body += _diff(result.diff)
                lines.append(f"<tr><td class=\"s-{state}\">{escape(label)}</td><td>{escape(result.task)}"
                             f"<div class=\"meta\">{escape(where)} &middot; {escape(result.play)} &middot; "
                             f"{float(result.duration or 0):.2f}s</div>{body}</td></tr>")
            panels.append(f"<section class=\"detail\" id=\"d-{row}-{column}\" hidden><h3>{escape(host)} &mdash; "
                          f"{escape(role)}</h3><table>{''.join(lines)}</table></section>")
    return "\n".join(panels)


def _diff(text: str) -> str:
    lines = []
    for line in text.rstrip("\n").split("\n"):
        kind = ("hunk" if line.startswith("@@") else "add" if line.startswith("+") and not line.startswith("+++")
                else "del" if line.startswith("-") and not line.startswith("---") else "")
        lines.append(f"<span class=\"{kind}\">{escape(line)}</span>" if kind else escape(line))
    return "<pre class=\"diff\">" + "\n".join(lines) + "</pre>"


def _figures(figures: list[Figures], trend: list[Figures]) -> str:
    if not figures:
        return "<h2>GPU verification</h2><p class=\"meta\">No gpu_verify figures in this run.</p>"
    drops = tflops_drops(trend)
    rows = ["<h2>GPU verification</h2><table class=\"figures\"><thead><tr><th>host</th><th>passed</th>"
            "<th>bf16 TFLOPS</th><th>H2D GB/s</th><th>all-reduce bus GB/s</th><th>TFLOPS over time</th>"
            "</tr></thead><tbody>"]
    for figure in sorted(figures, key=lambda item: item.host):
        history = [item.bf16_tflops for item in trend if item.host == figure.host and item.bf16_tflops is not None]
        ratio = drops.get((figure.run_id, figure.host))
        flag = f" <span class=\"drop\">drop to {ratio:.0%} of recent median</span>" if ratio is not None else ""
        passed = "" if figure.passed is None else "yes" if figure.passed else "no"
        rows.append(f"<tr data-host=\"{escape(figure.host)}\"><td>{escape(figure.host)}</td><td>{passed}</td>"
                    f"<td class=\"num\">{_number(figure.bf16_tflops)}{flag}</td><td class=\"num\">"
                    f"{_number(figure.h2d_gbps)}</td><td class=\"num\">{_number(figure.allreduce_busbw_gbps)}</td>"
                    f"<td>{sparkline(history)}</td></tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def sparkline(values: list[float], width: int = 140, height: int = 30) -> str:
    """An inline SVG line of the values, oldest left; the last point is marked."""
    if not values:
        return "<span class=\"meta\">&ndash;</span>"
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    step = (width - 6) / max(len(values) - 1, 1)
    points = [(3 + index * step, 3 + (height - 6) * (1 - (value - low) / spread)) for index, value in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last_x, last_y = points[-1]
    label = escape(", ".join(f"{value:g}" for value in values))
    return (f"<svg class=\"sparkline\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\"><title>{label}</title><polyline fill=\"none\" stroke=\"#1a4d8f\" stroke-width=\"1.5\" "
            f"points=\"{path}\"/><circle cx=\"{last_x:.1f}\" cy=\"{last_y:.1f}\" r=\"2.5\" fill=\"#1a4d8f\"/></svg>")


def _number(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.1f}"


def _when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return datetime.datetime.fromtimestamp(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
