// The sweeps page: redraw the table's rows every `poll` seconds, keeping the ticks of the sweeps
// to compare; the compare button opens /compare?sweep=ID&sweep=ID..., oldest first, once two
// or more are ticked.
"use strict";

(() => {
  const state = mg.json("state");
  const body = document.querySelector("#sweeps tbody");
  const button = document.getElementById("compare-button");
  const note = document.getElementById("ticked");
  const ticked = () => [...body.querySelectorAll("input[name=sweep]:checked")].map((b) => b.value);

  function showTicked() {
    const n = ticked().length;
    button.disabled = n < 2;
    note.textContent = n < 2 ? "tick two sweeps or more" : `${n} sweeps ticked`;
  }

  body.addEventListener("change", showTicked);
  // The oldest ticked sweep first: the one the others are set against.
  document.getElementById("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const id of ticked().sort((a, b) => a - b)) query.append("sweep", id);
    location.assign(`/compare?${query}`);
  });
  showTicked();
  mg.every(state.poll, async () => {
    const answer = await mg.get("/api/sweeps");
    const keep = new Set(ticked());
    body.innerHTML = answer.rows_html;
    for (const box of body.querySelectorAll("input[name=sweep]")) box.checked = keep.has(box.value);
    showTicked();
    document.body.dataset.updates = String(+(document.body.dataset.updates || 0) + 1);
  });
})();
