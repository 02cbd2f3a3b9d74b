// What every live page shares: its JSON, drawing plotly figures, polling, and a table that
// sorts and filters. The figures come built from the server (plotly in Python).
"use strict";

const mg = {
  json(id) {
    return JSON.parse(document.getElementById(id).textContent);
  },

  // Draw (or redraw) a figure; one that cannot be drawn must not stop the page's updates.
  plot(id, figure) {
    const div = document.getElementById(id);
    if (!div || !figure) return;
    try {
      Plotly.react(div, figure.data, figure.layout, { responsive: true, displaylogo: false })
        .catch((error) => console.error(id, error));
    } catch (error) {
      console.error(id, error);
    }
  },

  // Draw a figure once its place comes near the screen, and redraw it there when it changes:
  // a big sweep's page shows its curves first instead of drawing every figure before any.
  later: new Map(),
  seen: new Set(),
  watcher: new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      mg.seen.add(entry.target.id);
      mg.watcher.unobserve(entry.target);
      mg.plot(entry.target.id, mg.later.get(entry.target.id));
    }
  }, { rootMargin: "300px" }),
  plotWhenSeen(id, figure) {
    const div = document.getElementById(id);
    if (!div || !figure) return;
    mg.later.set(id, figure);
    if (mg.seen.has(id)) mg.plot(id, figure);
    else mg.watcher.observe(div);
  },

  async get(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  },

  // Run `step` every `seconds`, never two at once.
  every(seconds, step) {
    let busy = false;
    setInterval(async () => {
      if (busy) return;
      busy = true;
      try { await step(); } catch (error) { console.error(error); } finally { busy = false; }
    }, seconds * 1000);
  },

  // Click a header to sort by it (cells sort by data-key when they have one).
  sortable(table) {
    table.tHead.addEventListener("click", (event) => {
      const th = event.target.closest("th");
      if (!th || !th.dataset.sort) return;
      const dir = th.dataset.dir === "asc" ? "desc" : "asc";
      for (const cell of th.parentElement.cells) delete cell.dataset.dir;
      th.dataset.dir = dir;
      const sign = dir === "asc" ? 1 : -1;
      const key = (row) => {
        const cell = row.cells[th.cellIndex];
        return cell.dataset.key ?? cell.textContent.trim();
      };
      const compare = th.dataset.sort === "num"
        ? (a, b) => (a === "" ? -Infinity : +a) - (b === "" ? -Infinity : +b)
        : (a, b) => a.localeCompare(b);
      const body = table.tBodies[0];
      const rows = [...body.rows].sort((a, b) => sign * compare(key(a), key(b)));
      body.append(...rows);
    });
  },

  // Filters: each <select name=X> keeps the rows whose data-X equals its value. The choice
  // stays in the address, so a filtered view can be shared. Returns the function to reapply.
  filterable(table, form, shown) {
    const params = new URLSearchParams(location.search);
    for (const select of form.elements) {
      if (params.has(select.name)) select.value = params.get(select.name);
    }
    const apply = () => {
      const want = [...form.elements].filter((e) => e.name && e.value);
      let n = 0;
      for (const row of table.tBodies[0].rows) {
        row.hidden = !want.every((e) => row.dataset[e.name] === e.value);
        n += !row.hidden;
      }
      if (shown) shown.textContent = `${n} of ${table.tBodies[0].rows.length} shown`;
    };
    form.addEventListener("change", () => {
      const query = new URLSearchParams();
      for (const e of form.elements) if (e.name && e.value) query.set(e.name, e.value);
      history.replaceState(null, "", query.size ? `?${query}` : location.pathname);
      apply();
    });
    apply();
    return apply;
  },
};
