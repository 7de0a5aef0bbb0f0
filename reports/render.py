"""A built report as HTML (self-contained), Markdown (with chart images or tables) and A4 PDF.

Every figure is drawn from the :class:`reports.build.Report` fields; nothing is computed here.
Untrusted text (team names, criterion and survey texts) is escaped for each format: Jinja2
autoescape in HTML, :func:`md_escape` in Markdown; figures travel as JSON in
``<script type="application/json">`` blocks, so no such text lands in executable script.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import plotly
import plotly.graph_objects as go
from markupsafe import Markup

from maturity import display
from reports import charts
from reports.build import Report, fmt_change, fmt_value

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Draws every figure block, then flags completion so a headless browser knows when to print.
DRAW_JS = """
(function () {
  var blocks = document.querySelectorAll('script[type="application/json"][data-plotly-target]');
  var pending = [];
  blocks.forEach(function (block) {
    var target = document.getElementById(block.getAttribute("data-plotly-target"));
    if (!target || typeof Plotly === "undefined") { return; }
    var fig = JSON.parse(block.textContent);
    pending.push(Plotly.newPlot(target, fig.data || [], fig.layout || {},
      {responsive: true, displaylogo: false}));
  });
  Promise.all(pending).then(function () { window.__chartsDone = true; });
})();
"""
FORMATS = ("html", "md", "pdf")
T = TypeVar("T")


class ChromiumMissing(RuntimeError):
    """Headless Chromium is needed (PDF, chart images) but cannot be found or started."""


# --- figures -----------------------------------------------------------------------------


def build_figures(report: Report) -> dict[str, go.Figure]:
    """The report's charts by name: the level trend and one trend per DORA key."""
    if not report.has_data:
        return {}
    names = {d.id: d.name for d in report.dimensions}
    out = {
        "levels": charts.level_trend(
            report.level_history, title="Maturity score per dimension (week ending)", names=names
        )
    }
    for key in report.dora:
        if report.dora_history[report.dora_history["metric"] == key.metric]["value"].notna().any():
            out[key.metric] = charts.metric_trend(
                report.dora_history, metric=key.metric, title=f"{key.label} ({key.unit})"
            )
    return out


def _script_json(fig: go.Figure) -> Markup:
    """A figure as JSON that cannot close its <script> element or open a comment."""
    text = fig.to_json()
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 (escaped above for the script-data context)


@functools.cache
def _plotly_js() -> str:
    text = PLOTLY_JS.read_text(encoding="utf-8")
    if "</script" in text.lower() or "<!--" in text:  # would end the inline element early
        raise RuntimeError(f"{PLOTLY_JS} cannot be inlined safely")
    return text


# --- HTML --------------------------------------------------------------------------------


def _fmt_score(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.2f}"


def _fmt_delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every name and text in a report may come from a source: escape all
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fmt_value=fmt_value,
        fmt_change=fmt_change,
        fmt_score=_fmt_score,
        fmt_delta=_fmt_delta,
        dora_heading=display.DORA_HEADING,
        dora_note=display.DORA_NOTE,
    )
    return env


def to_html(report: Report, *, generated: dt.datetime | None = None) -> str:
    """One self-contained HTML file: styles, plotly.js and the figures inline, no network."""
    charts = {name: _script_json(fig) for name, fig in build_figures(report).items()}
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            r=report,
            charts=charts,
            plotly_js=Markup(_plotly_js()) if charts else "",  # noqa: S704 (checked in _plotly_js)
            draw_js=Markup(DRAW_JS),  # noqa: S704 (our own constant)
            generated=(generated or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


# --- Markdown ----------------------------------------------------------------------------

# "(" and "!" only matter next to "[" and "]", which are escaped; "#", "+", "-" and "1." only at
# the start of a line, handled below.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")


def md_escape(text: object) -> str:
    """Text shown literally in Markdown: no emphasis, link, table cell break or HTML tag."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = re.sub(r"\s*\n\s*", " ", s)
    return re.sub(r"^(\s*)([-=#+>]|\d+[.)])", r"\1\\\2", s)


def to_markdown(
    report: Report, *, images: dict[str, str] | None = None, notes: tuple[str, ...] = ()
) -> str:
    """Markdown for a wiki; ``images`` maps a chart name to its file path beside the report.

    A chart without an image is given as a table of its weekly values.
    """
    e = md_escape
    images = images or {}
    r = report
    lines = [f"# Retrospective report: {e(r.team)}", ""]
    period = f"Period {r.start} to {r.end}"
    if r.has_data:
        period += f"; compares the week ending {r.week_then} with the week ending {r.week_now}"
    lines += [period + ".", "", "## Summary", ""]
    for sentence in r.summary:
        lines += [e(sentence), ""]
    if r.has_data:
        lines += ["## Maturity by dimension", ""]
        lines += [
            f"| dimension | then ({r.week_then}) | now ({r.week_now}) | score then | score now "
            "| change | data coverage |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for d in r.dimensions:
            lines.append(
                f"| {e(d.name)} | {d.level_then_name} | {d.level_now_name} | "
                f"{_fmt_score(d.shown_score_then)} | {_fmt_score(d.shown_score_now)} | "
                f"{_fmt_delta(d.score_change)} | {fmt_value(d.coverage_now, 'share')} |"
            )
        lines.append("")
        lines += _chart_md("levels", "Maturity score per dimension", images, r)
        changed = [d for d in r.dimensions if d.newly_met or d.newly_lost]
        for d in changed:
            lines += [f"### {e(d.heading)}", ""]
            for label, items in (("Newly met", d.newly_met), ("Newly lost", d.newly_lost)):
                for c in items:
                    lines.append(
                        f"- **{label}** ({c.level_name}) {e(c.description)} "
                        f"\\[{e(c.id)}: {e(c.evidence)}\\]"
                    )
            lines.append("")
        if not changed:
            lines += ["No criterion was newly met or lost in this period.", ""]
        lines += [f"## {display.DORA_HEADING}", "", md_escape(display.DORA_NOTE), ""]
        lines += [
            "| key | now | previous period | change | tier (DORA 2024) |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for k in r.dora:
            was = f" (was {k.previous_tier})" if k.previous_tier not in (k.tier, "unknown") else ""
            lines.append(
                f"| {k.label} | {fmt_value(k.now, k.unit)} | {fmt_value(k.previous, k.unit)} | "
                f"{fmt_change(k.change, k.unit)} | {k.tier}{was} |"
            )
        lines.append("")
        for k in r.dora:
            lines += _chart_md(k.metric, f"{k.label} ({k.unit})", images, r)
    lines += ["## What the engineers say", ""]
    if r.surveys:
        for rnd in r.surveys:
            lines += [
                f"### Survey round of {rnd.opened_on} ({rnd.responses} responses)",
                "",
                "| statement | mean (1-5) | answers |",
                "| --- | ---: | ---: |",
            ]
            for q in rnd.questions:
                if q.answered is None:
                    lines.append(f"| {e(q.text)} | hidden: fewer than {rnd.k} ratings | |")
                    continue
                mean = "—" if q.mean is None else f"{q.mean:.1f}"
                lines.append(f"| {e(q.text)} | {mean} | {q.answered} |")
            lines.append("")
        lines += ["### Perception gaps", ""]
        if r.gaps:
            lines += ["| criterion | the data says | the engineers say |", "| --- | --- | --- |"]
            for g in r.gaps:
                lines.append(
                    f"| {e(g.description)} \\[{e(g.criterion_id)}\\] | {e(g.data_says)} | "
                    f"{e(g.engineers_say)} |"
                )
        else:
            lines.append("The data and the latest survey round agree wherever both speak.")
        lines.append("")
    else:
        lines += [f"No survey round with enough responses up to {r.end}.", ""]
    lines += ["## What to try next", ""]
    if r.next_steps:
        for i, s in enumerate(r.next_steps, 1):
            lines.append(f"{i}. **{e(s.what)}** ({e(s.dimension)}, for {s.level_name})")
            if s.why:
                lines.append(f"   - Why: {e(s.why)}")
            if s.measure:
                lines.append(f"   - How to measure progress: {e(s.measure)}")
        lines.append("")
    else:
        lines += ["No next step.", ""]
    lines += ["## Caveats", ""]
    caveats = [*r.caveats, *notes]
    lines += [f"- {e(c)}" for c in caveats] or ["None: every source is present and fresh."]
    lines += ["", "---", "", f"Generated by devops-maturity; model {r.model_version or '—'}.", ""]
    return "\n".join(lines)


def _chart_md(name: str, title: str, images: dict[str, str], r: Report) -> list[str]:
    if name in images:
        return [f"![{md_escape(title)}]({images[name]})", ""]
    if name == "levels":
        frame = r.level_history
        if frame.empty:
            return []
        if "coverage" in frame:  # a week without any data in a dimension is shown as such
            frame = frame.assign(score=frame["score"].where(frame["coverage"] > 0))
        pivot = frame.pivot_table(
            index="period_end", columns="dimension", values="score", dropna=False
        )
        names = {d.id: d.name for d in r.dimensions}
        cols = [d.id for d in r.dimensions if d.id in pivot.columns]
        out = [
            f"**{md_escape(title)}** (weekly scores)",
            "",
            "| week ending | " + " | ".join(md_escape(names[c]) for c in cols) + " |",
            "| --- |" + " ---: |" * len(cols),
        ]
        for week, row in pivot.iterrows():
            out.append(f"| {week} | " + " | ".join(_fmt_score(row[c]) for c in cols) + " |")
        return [*out, ""]
    rows = r.dora_history[r.dora_history["metric"] == name]
    if rows.empty or not rows["value"].notna().any():
        return []
    unit = next(k.unit for k in r.dora if k.metric == name)
    out = [f"**{md_escape(title)}** (weekly)", "", "| week ending | value |", "| --- | ---: |"]
    for week, value in zip(rows["period_end"], rows["value"], strict=True):
        out.append(f"| {week} | {fmt_value(None if value != value else value, unit)} |")
    return [*out, ""]


# --- headless Chromium: chart images and PDF -----------------------------------------------


#: names the system's Chromium goes by on PATH (Debian: chromium; Ubuntu's snap and others)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: the one sentence that says what to install, for the CLI (an error line) and the web (503)
INSTALL_CHROMIUM = (
    "install Chromium (Debian/Ubuntu: apt-get install chromium) or set MATURITY_CHROMIUM "
    "to its path"
)


def chromium_path() -> str:
    """The Chromium binary: ``MATURITY_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on
    PATH, else /usr/bin/chromium; :class:`ChromiumMissing` says what to install."""
    path = os.environ.get("MATURITY_CHROMIUM")
    if path:
        if not Path(path).is_file():
            raise ChromiumMissing(
                f"headless Chromium not found at {path} (MATURITY_CHROMIUM; PDF and chart "
                f"images need it): {INSTALL_CHROMIUM}"
            )
        return path
    found = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if found is None and Path("/usr/bin/chromium").is_file():
        found = "/usr/bin/chromium"
    if found is None:
        raise ChromiumMissing(
            f"headless Chromium not found (PDF and chart images need it): {INSTALL_CHROMIUM}"
        )
    return found


def with_browser(work: Callable[[Any], T]) -> T:
    """Run ``work(browser)`` with headless Chromium, in a thread of its own.

    Playwright's sync API refuses to run in a thread with a running asyncio loop (a web request,
    or another sync Playwright session already open in the caller's thread), so the browser
    always gets a fresh thread.
    """
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401 (a dependency; missing only in a broken install)
    except ImportError:
        raise ChromiumMissing(
            "PDF and chart images need the Python package playwright: pip install playwright "
            "(it drives the system's Chromium; no browser download)"
        ) from None

    def run() -> T:
        from playwright.sync_api import Error, sync_playwright

        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            except Error as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise ChromiumMissing(f"cannot start Chromium at {path}: {first}") from None
            try:
                return work(browser)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


_IMAGE_JS = """
async (figs) => {
  const out = {};
  for (const [name, fig] of Object.entries(figs)) {
    const div = document.createElement('div');
    document.body.appendChild(div);
    await Plotly.newPlot(div, fig.data || [], fig.layout || {}, {staticPlot: true});
    out[name] = await Plotly.toImage(div, {format: 'png', width: 900,
      height: (fig.layout && fig.layout.height) || 300, scale: 2});
    Plotly.purge(div);
    div.remove();
  }
  return out;
}
"""


def chart_images(report: Report) -> dict[str, bytes]:
    """Each chart of the report as PNG bytes, drawn by plotly.js in headless Chromium."""
    figs = {name: fig.to_plotly_json() for name, fig in build_figures(report).items()}
    if not figs:
        return {}
    import json

    payload = json.loads(json.dumps(figs, cls=plotly.utils.PlotlyJSONEncoder))

    def draw(browser: Any) -> dict[str, str]:
        page = browser.new_page()
        page.set_content("<!DOCTYPE html><html><body></body></html>")
        page.add_script_tag(content=_plotly_js())
        drawn: dict[str, str] = page.evaluate(_IMAGE_JS, payload)
        return drawn

    urls = with_browser(draw)
    return {name: base64.b64decode(url.split(",", 1)[1]) for name, url in urls.items()}


def to_pdf(report: Report, *, generated: dt.datetime | None = None) -> bytes:
    """An A4 PDF: the HTML report printed by headless Chromium once its charts are drawn."""
    html = to_html(report, generated=generated)
    has_charts = bool(build_figures(report))

    def print_pdf(browser: Any) -> bytes:
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.set_content(html, wait_until="load")
        if has_charts:
            page.wait_for_function("window.__chartsDone === true", timeout=60_000)
        page.emulate_media(media="print")
        pdf: bytes = page.pdf(
            format="A4",
            print_background=True,
            margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"},
        )
        return pdf

    return with_browser(print_pdf)


# --- writing files -----------------------------------------------------------------------


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def render_bytes(report: Report, fmt: str) -> bytes:
    """A report in one file (Markdown with tables for its charts): what a download returns."""
    if fmt == "html":
        return to_html(report).encode()
    if fmt == "md":
        return to_markdown(report).encode()
    if fmt == "pdf":
        return to_pdf(report)
    raise ValueError(f"unknown format {fmt!r} (choose html, md or pdf)")


def write_report(report: Report, fmt: str, path: Path) -> list[str]:
    """Write the report to ``path`` (Markdown also writes its chart images beside it).

    Returns:
        notes for the person: e.g. that Chromium was missing and charts became tables.
    """
    notes: list[str] = []
    if fmt != "md":
        write_atomic(path, render_bytes(report, fmt))
        return notes
    images: dict[str, str] = {}
    try:
        pngs = chart_images(report)
    except ChromiumMissing as exc:
        pngs = {}
        notes.append(f"{exc}; charts are given as tables")
    folder = path.with_name(f"{path.stem}-charts")
    for name, data in pngs.items():
        write_atomic(folder / f"{name}.png", data)
        images[name] = f"{folder.name}/{name}.png"
    write_atomic(path, to_markdown(report, images=images, notes=tuple(notes)))
    return notes
