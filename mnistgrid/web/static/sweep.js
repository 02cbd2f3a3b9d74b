// The live sweep page: every `poll` seconds ask for what changed since the cursor, put the
// changed rows in the table, append new epochs to their curves, and redraw the report's
// figures when jobs have ended.
"use strict";

(() => {
  const state = mg.json("state");
  const figures = mg.json("figures");

  const table = document.getElementById("jobs");
  mg.sortable(table);
  const refilter = mg.filterable(table, document.getElementById("filters"),
                                 document.getElementById("shown"));
  const ENDED = ["succeeded", "diverged", "failed", "cancelled", "stopped"];
  // What the summary depends on: jobs that ended, and the sweep's report.
  const summaryKey = (sweep) =>
    `${ENDED.reduce((n, s) => n + (sweep.counts[s] || 0), 0)} ${sweep.counts.parked || 0} ` +
    `${sweep.report_status}`;
  const ended = (counts) => ENDED.reduce((n, s) => n + (counts[s] || 0), 0);
  let summarySeen = summaryKey(state.sweep);

  function showHead(sweep) {
    const rows = [...table.tBodies[0].rows];
    const done = rows.reduce((n, r) => n + Math.min(+r.dataset.epoch, +r.dataset.epochs), 0);
    const total = rows.reduce((n, r) => n + +r.dataset.epochs, 0);
    const percent = total ? (100 * done) / total : 0;
    document.getElementById("progress-bar").style.width = `${percent.toFixed(1)}%`;
    document.getElementById("progress-text").textContent =
      `${done}/${total} epochs · ${ended(sweep.counts)}/${rows.length} jobs ended`;
    const counts = Object.entries(sweep.counts).filter(([, n]) => n);
    const lost = rows.filter((r) => r.dataset.status === "lost").length;
    if (lost) counts.push(["lost", lost]);
    const box = document.getElementById("counts");
    box.replaceChildren(...counts.map(([status, n]) => {
      const chip = document.createElement("span");
      chip.className = `count status-${status}`;
      chip.textContent = `${n} ${status}`;
      return chip;
    }));
    const badge = document.querySelector("#sweep-status .status");
    badge.className = `status status-${sweep.status}`;
    badge.textContent = sweep.status;
  }

  // The curves: one trace per panel and learning rate, holding its jobs' lines (in the order
  // of state.curve_jobs) each ended by a gap. Each job's points are kept here, so a job's new
  // epochs go in its place and only the traces that changed are drawn again.
  const curvesDiv = document.getElementById("fig-curves");
  const lines = new Map(); // job id -> {trace, points: [[epoch, accuracy], ...]}
  state.curve_jobs.forEach((jobs, trace) => {
    const { x, y } = figures.curves.data[trace];
    let at = 0;
    for (const job of jobs) {
      const line = { trace, points: [] };
      for (; x[at] !== null; at++) line.points.push([x[at], y[at]]);
      at++; // the gap that ends a job's line
      lines.set(String(job), line);
    }
  });
  mg.plot("fig-curves", figures.curves);
  for (const [name, figure] of Object.entries(figures)) {
    if (name !== "curves") mg.plotWhenSeen(`fig-${name}`, figure);
  }

  function extendCurves(points) {
    const changed = new Set();
    for (const [job, found] of Object.entries(points)) {
      const line = lines.get(job);
      if (!line) continue;
      const last = line.points.length ? line.points[line.points.length - 1][0] : 0;
      const fresh = found.filter(([epoch]) => epoch > last);
      if (!fresh.length) continue;
      line.points.push(...fresh);
      changed.add(line.trace);
    }
    if (!changed.size || !curvesDiv.data) return;
    const traces = [...changed];
    const update = { x: [], y: [], customdata: [] };
    for (const trace of traces) {
      const x = [], y = [], ids = [];
      for (const job of state.curve_jobs[trace]) {
        for (const [epoch, accuracy] of lines.get(String(job)).points) {
          x.push(epoch);
          y.push(accuracy);
          ids.push(job);
        }
        x.push(null); y.push(null); ids.push(job);
      }
      update.x.push(x); update.y.push(y); update.customdata.push(ids);
    }
    Plotly.restyle(curvesDiv, update, traces);
  }

  async function redrawSummary() {
    const summary = await mg.get(state.summary);
    for (const name of ["headline", "lr", "losses", "parallel"]) {
      mg.plotWhenSeen(`fig-${name}`, summary.figures[name]);
    }
    const curves = document.getElementById("fig-curves");
    if (curves.data) Plotly.react(curves, curves.data, summary.figures.curves_layout);
    document.querySelector("#headline tbody").innerHTML = summary.headline_html;
    const rungs = document.querySelector("#rungs tbody");
    if (rungs) rungs.innerHTML = summary.rungs_html;
    document.getElementById("report-link").innerHTML = summary.report_html;
    document.getElementById("verdicts").replaceChildren(...summary.verdicts.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
  }

  async function poll() {
    const url = `${state.updates}?since=${encodeURIComponent(state.cursor)}`;
    const update = await mg.get(url);
    for (const [id, html] of Object.entries(update.rows_html)) {
      const row = document.getElementById(`job-${id}`);
      if (row) row.outerHTML = html;
    }
    if (Object.keys(update.rows_html).length) refilter();
    extendCurves(update.points);
    showHead(update.sweep);
    state.cursor = update.cursor;
    const now = summaryKey(update.sweep);
    if (now !== summarySeen) {
      summarySeen = now;
      await redrawSummary();
    }
    document.body.dataset.updates = String(+(document.body.dataset.updates || 0) + 1);
  }

  showHead(state.sweep);
  mg.every(state.poll, poll);
})();
