// The watch page's script: follows the server's event stream and draws one card per run folder.
// Every run arrives as a finished view (figures, bars, chart SVGs, tables) built by
// lib/report/watch_view.ts, so this script only puts it on screen: text goes in with
// textContent, and the only markup it inserts is the server's own chart SVG. It also ticks
// the "updated ... ago" and ETA lines every second between events.
"use strict";

/** @typedef {{ label: string, value: string, note: string }} Figure */
/** @typedef {{ label: string, fraction: number | null }} Bar */
/** @typedef {{ id: string, title: string, svg: string }} Chart */
/** @typedef {{ title: string, columns: string[], rows: string[][], highlight: number }} Table */
/** @typedef {{ title: string, labels: string[], values: number[][] }} Matrix */
/**
 * @typedef {{ index: number, dir: string, lab: string | null, title: string, status: string,
 *   reason: string | null, updatedAt: number | null, figures: Figure[], bars: Bar[],
 *   etaAt: number | null, charts: Chart[], tables: Table[], matrix: Matrix | null,
 *   details: [string, string][], config: [string, string][], problems: string[],
 *   files: { name: string, href: string }[] }} RunView
 */

const runsEl = /** @type {HTMLElement} */ (document.getElementById("runs"));
const connection = /** @type {HTMLElement} */ (document.getElementById("connection"));

const STATUS_TEXT = {
  waiting: "waiting",
  running: "running",
  finished: "finished",
  stopped: "stopped",
  diverged: "diverged",
  damaged: "damaged",
};

/**
 * An element with attributes and children (strings become text, never markup).
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | null)[]} children
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null) node.append(c);
  return node;
}

/**
 * A duration in words: "45 s" under a minute, "12 min", "1 h 05 min".
 * @param {number} ms
 */
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** @param {number} t */
function clock(t) {
  return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Rewrites the lines that depend on the time now. */
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-updated]")) {
    const t = Number(node.getAttribute("data-updated"));
    node.textContent = `updated ${duration(now - t)} ago`;
  }
  for (const node of document.querySelectorAll("[data-eta]")) {
    const t = Number(node.getAttribute("data-eta"));
    node.textContent = t > now ? `about ${duration(t - now)} left, ends around ${clock(t)}` : "ending soon";
  }
}

/**
 * One run's card.
 * @param {RunView} v
 */
function card(v) {
  const head = el(
    "header",
    { class: "card-head" },
    el(
      "div",
      {},
      el("h2", { class: "dir" }, v.dir),
      el("div", { class: "lab" }, v.title),
    ),
    el(
      "div",
      { class: "state" },
      el(
        "span",
        { class: `pill pill-${v.status}`, "data-role": "status" },
        STATUS_TEXT[v.status] ?? v.status,
      ),
      v.updatedAt === null ? null : el("span", { class: "ago", "data-updated": String(v.updatedAt) }),
    ),
  );
  const section = el("section", {
    class: `card status-${v.status}`,
    id: `run-${v.index}`,
    "data-status": v.status,
  }, head);
  if (v.reason) section.append(el("p", { class: "reason" }, v.reason));
  if (v.problems.length) {
    section.append(el(
      "div",
      { class: "problems", role: "alert" },
      el("strong", {}, "Some files could not be read; the rest is shown:"),
      el("ul", {}, ...v.problems.map((p) => el("li", {}, p))),
    ));
  }
  if (v.figures.length) {
    section.append(el(
      "div",
      { class: "figures" },
      ...v.figures.map((f) =>
        el(
          "div",
          { class: "figure", "data-figure": f.label },
          el("span", { class: "label" }, f.label),
          el("span", { class: "value" }, f.value),
          el("span", { class: "note" }, f.note),
        )
      ),
    ));
  }
  if (v.bars.length) {
    const bars = el("div", { class: "bars" });
    for (const b of v.bars) {
      const fill = el("div", { class: "fill" });
      fill.style.width = `${b.fraction === null ? 0 : (100 * b.fraction).toFixed(1)}%`;
      const pct = b.fraction === null ? "" : `${Math.floor(100 * b.fraction)}%`;
      bars.append(el(
        "div",
        { class: `bar${b.fraction === null ? " unknown" : ""}`, "data-bar": b.label },
        el("div", { class: "bar-label" }, el("span", {}, b.label), el("span", { class: "pct" }, pct)),
        el("div", { class: "track" }, fill),
      ));
    }
    if (v.etaAt !== null) bars.append(el("div", { class: "eta", "data-eta": String(v.etaAt) }));
    section.append(bars);
  }
  if (v.charts.length) {
    const charts = el("div", { class: "charts" });
    for (const c of v.charts) {
      const figure = el("figure", { class: "chart", "data-chart": c.id, "aria-label": c.title });
      // The server's own SVG (lineChart / barChart output, text escaped there).
      figure.innerHTML = c.svg;
      charts.append(figure);
    }
    section.append(charts);
  }
  if (v.matrix) section.append(matrix(v.matrix));
  for (const t of v.tables) section.append(table(t));
  const more = el("div", { class: "more" });
  if (v.details.length) more.append(pairs("Run details", v.details, "details"));
  if (v.config.length) more.append(pairs("Config", v.config, "config"));
  if (v.files.length) {
    more.append(el(
      "details",
      { "data-more": "files" },
      el("summary", {}, `Files (${v.files.length})`),
      el("ul", { class: "files" }, ...v.files.map((f) => el("li", {}, el("a", { href: f.href }, f.name)))),
    ));
  }
  section.append(more);
  return section;
}

/**
 * @param {string} title
 * @param {[string, string][]} rows
 * @param {string} key
 */
function pairs(title, rows, key) {
  return el(
    "details",
    { "data-more": key },
    el("summary", {}, title),
    el(
      "table",
      { class: "pairs" },
      ...rows.map(([k, val]) => el("tr", {}, el("th", {}, k), el("td", {}, val))),
    ),
  );
}

/** @param {Table} t */
function table(t) {
  const body = t.rows.map((r, i) =>
    el("tr", i === t.highlight ? { class: "best" } : {}, ...r.map((c) => el("td", {}, c)))
  );
  return el(
    "div",
    { class: "table-wrap" },
    el("h3", {}, t.title),
    el(
      "table",
      { class: "data", "data-table": t.title },
      el("thead", {}, el("tr", {}, ...t.columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, ...body),
    ),
  );
}

/** @param {Matrix} m */
function matrix(m) {
  const head = el("tr", {}, el("th", {}, "true \\ predicted"), ...m.labels.map((l) => el("th", {}, l)));
  const rows = m.values.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el(
      "tr",
      {},
      el("th", {}, m.labels[i]),
      ...row.map((n, j) => {
        const cell = el("td", i === j ? { class: "diag" } : {}, String(n));
        const share = n / total;
        // Blue for correct predictions, vermilion for mistakes (Okabe-Ito, as the charts).
        cell.style.backgroundColor = i === j
          ? `rgba(0, 114, 178, ${(0.15 + 0.85 * share).toFixed(3)})`
          : `rgba(213, 94, 0, ${Math.min(1, 2.5 * share).toFixed(3)})`;
        if ((i === j && share > 0.45) || (i !== j && share > 0.3)) cell.classList.add("dark");
        return cell;
      }),
    );
  });
  return el(
    "div",
    { class: "table-wrap" },
    el("h3", {}, m.title),
    el(
      "table",
      { class: "matrix", "data-table": "confusion" },
      el("thead", {}, head),
      el("tbody", {}, ...rows),
    ),
  );
}

/**
 * Puts a run's view on screen, replacing its card in place and keeping open
 * sections open.
 * @param {RunView} v
 */
function show(v) {
  const old = document.getElementById(`run-${v.index}`);
  const fresh = card(v);
  if (old) {
    for (const d of old.querySelectorAll("details[open]")) {
      const key = d.getAttribute("data-more");
      fresh.querySelector(`details[data-more="${key}"]`)?.setAttribute("open", "");
    }
    old.replaceWith(fresh);
  } else {
    const next = [...runsEl.children].find((c) => Number(c.id.slice(4)) > v.index);
    runsEl.insertBefore(fresh, next ?? null);
  }
  tick();
}

/**
 * @param {string} state
 * @param {string} text
 */
function setConnection(state, text) {
  connection.setAttribute("data-state", state);
  connection.textContent = text;
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("hello", (e) => {
    const { runs } = JSON.parse(/** @type {MessageEvent} */ (e).data);
    runsEl.setAttribute("data-count", String(runs));
    setConnection("live", "live");
  });
  events.addEventListener("run", (e) => show(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  events.addEventListener("bye", () => {
    events.close();
    setConnection("closed", "the watch server has stopped: this is the last state it sent");
  });
  events.addEventListener("error", () => {
    if (events.readyState !== EventSource.CLOSED) setConnection("retrying", "connection lost: retrying…");
  });
  events.addEventListener("open", () => setConnection("live", "live"));
}

connect();
setInterval(tick, 1000);
