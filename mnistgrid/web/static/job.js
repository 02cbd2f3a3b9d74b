// The live job page: every `poll` seconds ask for the epochs after the last one shown, append
// them to the figures and the table, and redraw the job's state.
"use strict";

(() => {
  const state = mg.json("state");
  const figures = mg.json("figures");
  for (const [name, figure] of Object.entries(figures)) mg.plot(`fig-${name}`, figure);

  async function poll() {
    const update = await mg.get(`${state.updates}?after=${state.last}`);
    document.getElementById("job-head").innerHTML = update.head_html;
    if (update.epochs_html) {
      document.querySelector("#epochs tbody").insertAdjacentHTML("beforeend", update.epochs_html);
    }
    for (const [name, extension] of Object.entries(update.extension)) {
      const div = document.getElementById(`fig-${name}`);
      if (div && div.data && extension.x.length && extension.x[0].length) {
        Plotly.extendTraces(div, extension, extension.x.map((_, i) => i));
      }
    }
    state.last = update.last;
    document.body.dataset.updates = String(+(document.body.dataset.updates || 0) + 1);
  }

  mg.every(state.poll, poll);
})();
