// The compare page: draw its two figures. It does not poll: reload it for the latest.
"use strict";

(() => {
  const figures = mg.json("figures");
  mg.plot("fig-curves", figures.curves);
  mg.plotWhenSeen("fig-parallel", figures.parallel);
  document.body.dataset.drawn = "1";
})();
