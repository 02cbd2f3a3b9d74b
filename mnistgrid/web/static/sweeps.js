// The sweeps page: redraw the table's rows every `poll` seconds.
"use strict";

(() => {
  const state = mg.json("state");
  mg.every(state.poll, async () => {
    const answer = await mg.get("/api/sweeps");
    document.querySelector("#sweeps tbody").innerHTML = answer.rows_html;
  });
})();
