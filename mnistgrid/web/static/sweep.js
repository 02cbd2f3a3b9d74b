// The live sweep page: every `poll` seconds ask for what changed since the cursor, put the
// changed rows in the table, append new epochs to their curves, and redraw the report's
// figures when jobs have ended.
"use strict";

(() => {
  const state = mg.json("state");
  const figures = mg.json("figures");
  for (const [name, figure] of Object.entries(figures)) mg.plot(`fig-${name}`, figure);

  const table = document.getElementById("jobs");
  mg.sortable(table);
  const refilter = mg.filterable(table, document.getElementById("filters"),
                                 document.getElementById("shown"));
  const ENDED = ["succeeded", "diverged", "failed", "cancelled", "stopped"];
  const ended = (counts) => ENDED.reduce((n, s) => n + (counts[s] || 0), 0);
  let endedSeen = ended(state.sweep.counts);

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

  // Append each job's new epochs to its trace, skipping epochs the trace already has.
  function extendCurves(points) {
    const div = document.getElementById("fig-curves");
    const indices = [], xs = [], ys = [];
    for (const [job, found] of Object.entries(points)) {
      const index = state.curve_index[job];
      if (index === undefined || !div.data) continue;
      const have = div.data[index].x;
      const last = have.length ? have[have.length - 1] : 0;
      const fresh = found.filter(([epoch]) => epoch > last);
      if (!fresh.length) continue;
      indices.push(index);
      xs.push(fresh.map(([epoch]) => epoch));
      ys.push(fresh.map(([, acc]) => acc));
    }
    if (indices.length) Plotly.extendTraces(div, { x: xs, y: ys }, indices);
  }

  async function redrawSummary() {
    const summary = await mg.get(state.summary);
    for (const name of ["headline", "lr", "losses", "parallel"]) {
      mg.plot(`fig-${name}`, summary.figures[name]);
    }
    const curves = document.getElementById("fig-curves");
    if (curves.data) Plotly.react(curves, curves.data, summary.figures.curves_layout);
    document.querySelector("#headline tbody").innerHTML = summary.headline_html;
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
    const now = ended(update.sweep.counts);
    if (now !== endedSeen) {
      endedSeen = now;
      await redrawSummary();
    }
    document.body.dataset.updates = String(+(document.body.dataset.updates || 0) + 1);
  }

  showHead(state.sweep);
  mg.every(state.poll, poll);
})();
