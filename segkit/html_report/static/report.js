"use strict";
// segkit's HTML report. Every number shown comes from the embedded JSON (report.json, eval.json and the
// image records); nothing is computed here but formatting, sorting and filtering. Every string from the
// data (labels, file names, settings) goes into the page as a text node or an attribute value, never as
// markup, and where it sits among other text it is isolated (`bidi`: a <bdi> element; `iso` in attribute
// values), so that a right-to-left override (U+202E) in a label reorders the label and nothing around it.
(() => {
  const D = JSON.parse(document.getElementById("segkit-data").textContent);
  const R = D.report || {};
  const E = D.eval || null;
  const COL = Object.fromEntries(D.detection_columns.map((name, i) => [name, i]));
  const THRESHOLD = typeof R.iou_threshold === "number" ? R.iou_threshold : 0.5;
  const BACKENDS = D.backends.map((b) => b.name);
  const PAIRS = (R.pairs || []).map((p) => ({ name: p.pair, a: BACKENDS.indexOf(p.a), b: BACKENDS.indexOf(p.b) }));

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "vars") for (const [name, v] of Object.entries(value)) node.style.setProperty(name, String(v));
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  function svgEl(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }
  const $ = (id) => document.getElementById(id);
  // Text from the data, isolated from the text around it: as an element, and inside an attribute value
  // (between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE).
  const bidi = (v) => el("bdi", { text: v });
  const iso = (v) => `\u2068${v}\u2069`;
  // A path relative to the page (always ours: html/…, viz/…), each segment percent-encoded.
  const fileUrl = (path) => String(path).split("/").map(encodeURIComponent).join("/");

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  // v with `digits` decimals, rounded as Python's format() rounds (an exact tie goes to the even digit),
  // so that the page and segkit's terminal tables print the same digits. toFixed(100) is v's exact
  // decimal expansion for the magnitudes shown here.
  function fixed(v, digits) {
    const exact = Math.abs(v).toFixed(100);
    const cut = exact.indexOf(".") + 1 + digits;
    if (/^50*$/.test(exact.slice(cut)) && Number(exact[digits ? cut - 1 : cut - 2]) % 2 === 0) {
      return (v < 0 ? "-" : "") + exact.slice(0, digits ? cut : cut - 1);
    }
    return v.toFixed(digits);
  }
  const fmt = {
    num: (v, digits = 3) => (isNum(v) ? fixed(v, digits) : "–"),
    int: (v) => (isNum(v) ? String(v) : "–"),
    pct: (v) => (isNum(v) ? fixed(100 * v, 1) + "%" : "–"),
    sec: (v) => (isNum(v) ? fixed(v, 3) : "–"),
    count: (v) => (isNum(v) ? (Number.isInteger(v) ? String(v) : fixed(v, 2)) : "–"), // ties shared: 2.5
    text: (v) => (v === null || v === undefined ? "–" : String(v)),
  };

  // ---------------------------------------------------------------- sortable, paginated tables
  // columns: {key, label, type: "text" | "int" | "num" | "pct" | "iou" | "sec", value(row), title}
  class Table {
    constructor(host, options) {
      this.host = host;
      this.columns = options.columns;
      this.pageSize = options.pageSize || 25;
      this.onRow = options.onRow || null;
      this.rowClass = options.rowClass || null;
      this.empty = options.empty || "nothing matches the filters";
      this.sortKey = options.sort ? options.sort[0] : null;
      this.sortDir = options.sort ? options.sort[1] : 1;
      this.rows = [];
      this.order = null;
      this.page = 0;
    }
    value(col, row) { return col.value ? col.value(row) : row[col.key]; }
    setRows(rows) { this.rows = rows; this.order = null; this.page = 0; this.render(); }
    sorted() {
      if (this.order) return this.order;
      const col = this.columns.find((c) => c.key === this.sortKey);
      const out = this.rows.slice();
      if (col) {
        const dir = this.sortDir;
        out.sort((r1, r2) => {
          const a = this.value(col, r1), b = this.value(col, r2);
          const missingA = a === null || a === undefined, missingB = b === null || b === undefined;
          if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1; // missing last
          if (typeof a === "number" && typeof b === "number") return dir * (a - b);
          return dir * String(a).localeCompare(String(b));
        });
      }
      this.order = out;
      return out;
    }
    sortBy(key) {
      if (this.sortKey === key) this.sortDir = -this.sortDir;
      else { this.sortKey = key; this.sortDir = 1; }
      this.order = null;
      this.page = 0;
      this.render();
    }
    cell(col, row) {
      const v = this.value(col, row);
      const type = col.type || "text";
      const td = el("td", { class: type === "backend" ? "text backend" : type === "text" ? "text" : "num" });
      if (type === "iou") {
        td.append(el("span", { class: "iou" }, el("i", { vars: { "--v": isNum(v) ? v : 0 }, "aria-hidden": "true" }), fmt.num(v)));
        if (isNum(v) && v < THRESHOLD) td.classList.add("low");
      } else if (type === "backend") {
        const index = BACKENDS.indexOf(v);
        if (index >= 0) td.append(el("span", { class: "swatch", vars: { "--c": D.backends[index].color } }));
        td.append(fmt.text(v));
      } else {
        td.textContent = (fmt[type] || fmt.text)(v);
      }
      if (isNum(v) && type !== "int") td.title = String(v);
      return td;
    }
    render() {
      const rows = this.sorted();
      const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
      this.page = Math.min(this.page, pages - 1);
      const start = this.page * this.pageSize;
      const shown = rows.slice(start, start + this.pageSize);
      const head = el("tr");
      for (const col of this.columns) {
        const th = el("th", { class: col.type && col.type !== "text" && col.type !== "backend" ? "num" : null, scope: "col", title: col.title },
          el("button", { type: "button", text: col.label, onclick: () => this.sortBy(col.key) }));
        if (col.key === this.sortKey) th.setAttribute("aria-sort", this.sortDir > 0 ? "ascending" : "descending");
        head.append(th);
      }
      const body = el("tbody");
      for (const row of shown) {
        const tr = el("tr", { class: this.rowClass ? this.rowClass(row) : null });
        for (const col of this.columns) tr.append(this.cell(col, row));
        if (this.onRow) {
          tr.classList.add("clickable");
          tr.tabIndex = 0;
          tr.addEventListener("click", () => this.onRow(row, rows));
          tr.addEventListener("keydown", (e) => { if (e.key === "Enter") this.onRow(row, rows); });
        }
        body.append(tr);
      }
      const parts = [el("div", { class: "table-wrap" }, el("table", null, el("thead", null, head), body))];
      if (!rows.length) parts.push(el("div", { class: "empty", text: this.empty }));
      if (rows.length > this.pageSize) {
        const size = el("select", { "aria-label": "rows per page", onchange: (e) => { this.pageSize = Number(e.target.value); this.page = 0; this.render(); } });
        for (const n of [25, 50, 100, 250]) size.append(el("option", { value: n, selected: n === this.pageSize, text: `${n} rows` }));
        parts.push(el("div", { class: "pager" },
          el("button", { type: "button", text: "«", disabled: this.page === 0, "aria-label": "first page", onclick: () => { this.page = 0; this.render(); } }),
          el("button", { type: "button", text: "‹", disabled: this.page === 0, "aria-label": "previous page", onclick: () => { this.page--; this.render(); } }),
          el("span", { class: "pager-status", text: `${start + 1}–${start + shown.length} of ${rows.length}` }),
          el("button", { type: "button", text: "›", disabled: this.page >= pages - 1, "aria-label": "next page", onclick: () => { this.page++; this.render(); } }),
          el("button", { type: "button", text: "»", disabled: this.page >= pages - 1, "aria-label": "last page", onclick: () => { this.page = pages - 1; this.render(); } }),
          size));
      }
      this.host.replaceChildren(...parts);
    }
  }

  // ---------------------------------------------------------------- the data, as rows
  const IMAGES = D.images;
  const imageByName = new Map(IMAGES.map((img, i) => [img.name, i]));
  const DETS = D.detections.map((r) => ({
    image: r[COL.image], id: r[COL.id], label: D.labels[r[COL.label]], confidence: r[COL.confidence],
    box: r[COL.box], areas: r[COL.areas], scores: r[COL.scores], ious: r[COL.ious], gt: r[COL.gt],
  }));
  const detIndex = new Map(DETS.map((d, i) => [`${d.image}:${d.id}`, i]));
  const HAS_GT = DETS.some((d) => d.gt && d.gt.iou.some(isNum));

  // One row per detection and pair (per detection when there is no pair), for the detections table.
  const PAIR_ROWS = [];
  for (const det of DETS) {
    const base = { det, image: IMAGES[det.image].name, id: det.id, label: det.label, confidence: det.confidence };
    if (!PAIRS.length) {
      PAIR_ROWS.push({ ...base, pair: null, iou: null, area_a: det.areas[0], score: det.scores[0], gt_a: det.gt ? det.gt.iou[0] : null });
      continue;
    }
    PAIRS.forEach((p, k) => {
      const iou = det.ious[k];
      if (iou === null || iou === undefined) return;
      const a = det.areas[p.a], b = det.areas[p.b];
      PAIR_ROWS.push({ ...base, pair: p.name, pairIndex: k, iou, area_a: a, area_b: b, ratio: a > 0 && isNum(b) ? b / a : null,
        gt_a: det.gt ? det.gt.iou[p.a] : null, gt_b: det.gt ? det.gt.iou[p.b] : null });
    });
  }

  // ---------------------------------------------------------------- filters
  const filters = { label: "", pair: "", min: 0, max: 1, image: "" };
  const inRange = (v) => !isNum(v) || (v >= filters.min && v <= filters.max);
  const matchLabel = (label) => !filters.label || label === filters.label;
  const matchPair = (pair) => !filters.pair || pair === filters.pair;
  const matchImage = (name) => !filters.image || String(name).toLowerCase().includes(filters.image.toLowerCase());

  function setUpFilters() {
    const labelSelect = $("f-label");
    for (const label of [...D.labels].sort((a, b) => a.localeCompare(b))) labelSelect.append(el("option", { value: label, text: label }));
    const pairSelect = $("f-pair");
    for (const p of PAIRS) pairSelect.append(el("option", { value: p.name, text: p.name }));
    if (!PAIRS.length) pairSelect.parentElement.hidden = true;
    const read = () => {
      filters.label = labelSelect.value;
      filters.pair = pairSelect.value;
      const lo = parseFloat($("f-min").value), hi = parseFloat($("f-max").value);
      filters.min = Number.isFinite(lo) ? lo : 0;
      filters.max = Number.isFinite(hi) ? hi : 1;
      filters.image = $("f-image").value.trim();
      applyFilters();
    };
    for (const id of ["f-label", "f-pair", "f-min", "f-max", "f-image"]) $(id).addEventListener("input", read);
    $("f-reset").addEventListener("click", () => {
      $("filters").reset();
      read();
    });
    $("filters").addEventListener("submit", (e) => e.preventDefault());
  }

  const views = [];
  function applyFilters() {
    for (const view of views) view();
  }

  // ---------------------------------------------------------------- sections
  function header() {
    $("title").textContent = D.title;
    $("generator").textContent = `${D.generator} · report.json version ${R.version ?? "?"}`;
    const nav = $("nav");
    for (const section of document.querySelectorAll("main > section")) {
      if (section.hidden) continue;
      const h = section.querySelector("h2");
      nav.append(el("a", { href: `#${section.id}`, text: h ? h.textContent : section.id }));
    }
  }

  function runSection() {
    const stats = R.backend_stats || [];
    const facts = [
      [R.images, "images"], [R.detections, "detections"], [BACKENDS.length, BACKENDS.length === 1 ? "backend" : "backends"],
      [PAIRS.length, PAIRS.length === 1 ? "pair" : "pairs"], [THRESHOLD, "IoU threshold"],
    ];
    if (D.failures_total) facts.push([D.failures_total, "failures (last run)"]);
    $("facts").replaceChildren(...facts.map(([value, label]) => el("div", { class: "fact" }, el("b", { text: fmt.text(value) }), el("span", { text: label }))));
    const table = new Table($("backends-table"), {
      columns: [
        { key: "backend", label: "backend", type: "backend" },
        { key: "plugin", label: "plugin", value: (r) => (D.backends.find((b) => b.name === r.backend) || {}).plugin },
        { key: "images", label: "images", type: "int" },
        { key: "detections", label: "detections", type: "int" },
        { key: "empty_masks", label: "empty masks", type: "int" },
        { key: "mean_score", label: "mean score", type: "num" },
        { key: "seconds_per_image", label: "s / image", type: "sec", title: R.definitions && R.definitions.seconds_per_image },
        { key: "failures", label: "failures", type: "int" },
      ],
    });
    table.setRows(stats);
    const settings = $("settings");
    for (const b of D.backends) {
      const rows = Object.entries(b.settings || {}).map(([k, v]) => el("tr", null, el("td", { text: k }), el("td", { class: "text", text: typeof v === "object" ? JSON.stringify(v) : String(v) })));
      settings.append(el("details", null, el("summary", null, el("span", { class: "swatch", vars: { "--c": b.color } }), bidi(b.name), " settings"),
        rows.length ? el("table", null, el("tbody", null, ...rows)) : el("div", { class: "empty", text: "no settings recorded" })));
    }
    if (D.failures.length) {
      const host = el("div");
      $("failures").replaceChildren(el("h3", { text: `Failures of the last run (failures.json, ${D.failures_total})` }), host);
      new Table(host, { columns: [{ key: "image", label: "image" }, { key: "backend", label: "backend" }, { key: "error", label: "error" }], pageSize: 10 })
        .setRows(D.failures.filter((f) => f && typeof f === "object"));
    }
    if (D.notes.length) {
      $("notes").replaceChildren(el("div", { class: "note" }, el("b", { text: "Pictures not made for some images: " }), el("ul", null, ...D.notes.map((n) => el("li", { text: n })))));
    }
  }

  const pairColumns = (withPair) => [
    ...(withPair ? [{ key: "pair", label: "pair" }] : []),
    { key: "detections", label: "n", type: "int" },
    { key: "mean_iou", label: "mean IoU", type: "iou" },
    { key: "median_iou", label: "median", type: "iou" },
    { key: "p5_iou", label: "p5", type: "iou", title: R.definitions && R.definitions.p5_iou },
    { key: "min_iou", label: "min", type: "iou" },
    { key: "below_threshold", label: `< ${THRESHOLD}`, type: "int", title: R.definitions && R.definitions.below_threshold },
    { key: "fraction_below", label: "share", type: "pct" },
    { key: "median_area_ratio", label: "area b/a", type: "num", title: R.definitions && R.definitions.area_ratio },
  ];

  function pairsSection() {
    if (!PAIRS.length) {
      $("pairs").hidden = true;
      return;
    }
    const table = new Table($("pairs-table"), { columns: [...pairColumns(true), { key: "empty_a", label: "empty a", type: "int" }, { key: "empty_b", label: "empty b", type: "int" }] });
    views.push(() => table.setRows(R.pairs.filter((p) => matchPair(p.pair))));
    plot($("pairs-plot"), D.plots.pairs, `IoU per detection, 20 bins; dashed line: the threshold ${THRESHOLD}.`);
  }

  function labelsSection() {
    if (!(R.labels || []).length) {
      $("labels").hidden = true;
      return;
    }
    const table = new Table($("labels-table"), { columns: [{ key: "label", label: "label" }, ...pairColumns(PAIRS.length > 1)], sort: ["mean_iou", 1] });
    views.push(() => table.setRows(R.labels.filter((r) => matchLabel(r.label) && matchPair(r.pair))));
    plot($("labels-plot"), D.plots.labels, D.plots.labels_caption);
  }

  function plot(host, svgText, caption) {
    if (!svgText) { host.hidden = true; return; }
    // Parsed as XML and imported: the SVG is matplotlib's, with every label in it escaped by matplotlib.
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg") { host.hidden = true; return; }
    for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
    host.replaceChildren(document.importNode(svg, true));
    if (caption) host.append(el("figcaption", { text: caption }));
  }

  function gallerySection() {
    const entries = (R.worst || []).map((w) => ({ ...w, imageIndex: imageByName.get(w.image) }));
    if (!entries.length) {
      $("worst").hidden = true;
      return;
    }
    const host = $("gallery");
    views.push(() => {
      const shown = entries.filter((w) => matchLabel(w.label) && matchPair(w.pair) && inRange(w.iou) && matchImage(w.image));
      const items = shown.map((w) => ({ image: w.imageIndex, id: w.detection, pair: w.pair }));
      host.replaceChildren(...shown.map((w, i) => card(w, () => openViewer(items, i))));
      if (!shown.length) host.append(el("div", { class: "empty", text: "no worst detection matches the filters" }));
    });
  }

  function card(w, open) {
    const thumb = D.thumbs[`${w.imageIndex}:${w.detection}:${w.pair}`];
    const picture = thumb
      ? el("img", { class: "thumb", src: fileUrl(thumb), alt: `${iso(w.label)} in ${iso(w.image)}`, loading: "lazy", decoding: "async", width: 240, height: 180 })
      : el("span", { class: "thumb" });
    return el("button", { type: "button", class: "card", onclick: open, "data-image": w.image, "data-detection": w.detection },
      picture,
      el("span", { class: "meta" },
        el("span", null, el("b", { text: fmt.num(w.iou) }), " IoU"),
        el("span", { class: "label", text: w.label }),
        el("span", { class: "muted", text: w.pair }),
        el("span", { class: "muted" }, bidi(w.image), ` · det ${w.detection}`)));
  }

  function detectionsSection() {
    const gtColumns = HAS_GT && PAIRS.length ? [
      { key: "gt_a", label: "GT IoU a", type: "iou", title: "IoU of the pair's first backend against ground truth" },
      { key: "gt_b", label: "GT IoU b", type: "iou", title: "IoU of the pair's second backend against ground truth" },
    ] : [];
    const columns = PAIRS.length ? [
      { key: "image", label: "image" }, { key: "id", label: "det", type: "int" }, { key: "label", label: "label" },
      { key: "confidence", label: "conf", type: "num" }, { key: "pair", label: "pair" }, { key: "iou", label: "IoU", type: "iou" },
      { key: "area_a", label: "area a", type: "int" }, { key: "area_b", label: "area b", type: "int" },
      { key: "ratio", label: "b/a", type: "num" }, ...gtColumns,
    ] : [
      { key: "image", label: "image" }, { key: "id", label: "det", type: "int" }, { key: "label", label: "label" },
      { key: "confidence", label: "conf", type: "num" }, { key: "area_a", label: "area px", type: "int" }, { key: "score", label: "score", type: "num" },
      ...(HAS_GT ? [{ key: "gt_a", label: "IoU vs GT", type: "iou" }] : []),
    ];
    const table = new Table($("detections-table"), {
      columns, pageSize: 25, sort: PAIRS.length ? ["iou", 1] : ["image", 1],
      onRow: (row, rows) => openViewer(rows.map((r) => ({ image: r.det.image, id: r.id, pair: r.pair })), rows.indexOf(row)),
    });
    views.push(() => {
      const rows = PAIR_ROWS.filter((r) => matchLabel(r.label) && matchPair(r.pair) && inRange(r.iou) && matchImage(r.image));
      table.setRows(rows);
      $("f-count").textContent = `${rows.length} of ${PAIR_ROWS.length} detection rows`;
    });
  }

  // ---------------------------------------------------------------- ground truth (eval.json)
  // eval.json (version 1): per_backend and per_label rows (the box baseline has baseline: true), best,
  // worst {backend: [entries]}, unmatched_detections, missed_ground_truth; each detection's scores are in
  // its image record (the rows' `gt` column).
  const gtRowColumns = [
    { key: "detections", label: "detections", type: "int" },
    { key: "matched", label: "matched", type: "int", title: E && E.definitions && E.definitions.matched_row },
    { key: "mean_iou", label: "mean IoU", type: "iou", title: E && E.definitions && E.definitions.mean_iou },
    { key: "median_iou", label: "median", type: "iou" },
    { key: "mean_boundary_iou", label: "boundary IoU", type: "iou", title: E && E.definitions && E.definitions.mean_boundary_iou },
    { key: "fraction_under_50", label: "< 0.5", type: "pct", title: E && E.definitions && E.definitions.under_50 },
    { key: "fraction_under_75", label: "< 0.75", type: "pct" },
    { key: "ap", label: "AP", type: "num", title: E && E.definitions && E.definitions.ap },
    { key: "ap50", label: "AP50", type: "num" },
    { key: "ap75", label: "AP75", type: "num" },
    { key: "misses", label: "misses", type: "int", title: E && E.definitions && E.definitions.misses },
    { key: "false_positives", label: "false pos.", type: "int", title: E && E.definitions && E.definitions.false_positives },
    { key: "best", label: "best", type: "count", title: E && E.definitions && E.definitions.best },
    { key: "worse_than_box", label: "< box", type: "int", title: E && E.definitions && E.definitions.worse_than_box },
  ];
  const backendColumn = { key: "backend", label: "backend", type: "backend", value: (r) => (r.baseline ? `${r.backend} (baseline)` : r.backend) };

  function gtSection() {
    if (!E) return;
    $("gt").hidden = false;
    $("run").after($("gt")); // scores against ground truth come first: they say which backend is right
    const body = $("gt-body");
    const source = E.ground_truth || {};
    body.append(el("p", { class: "muted" }, "Scored against ", el("code", null, bidi(fmt.text(source.path))),
      source.format ? el("span", null, " (", bidi(source.format), ")") : "", E.class_aware ? ", class-aware (label map)" : ", class-agnostic",
      isNum(E.iou_match) ? `, matched at box IoU ≥ ${E.iou_match}` : "", "."));
    const facts = [[E.images, "images scored"], [E.matched, "matched detections"], [E.false_positives, "false positives"],
      [E.misses, "missed ground truth"]];
    if (E.unmapped) facts.push([E.unmapped, "unmapped labels"]);
    if ((E.images_without_ground_truth || []).length) facts.push([E.images_without_ground_truth.length, "images without ground truth"]);
    body.append(el("div", { class: "facts" }, ...facts.map(([v, label]) => el("div", { class: "fact" }, el("b", { text: fmt.text(v) }), el("span", { text: label })))));
    const problems = [...(E.image_problems || []).map((p) => `${p.image}: ${p.problem}`),
      ...((E.images_without_ground_truth || []).length ? [`no ground truth for: ${E.images_without_ground_truth.join(", ")}`] : [])];
    if (problems.length) body.append(el("div", { class: "note" }, el("ul", null, ...problems.map((t) => el("li", { text: t })))));

    const perBackend = el("div");
    body.append(el("h3", { text: "Per backend (the box itself as a mask: the baseline)" }), perBackend);
    new Table(perBackend, { columns: [backendColumn, ...gtRowColumns], rowClass: (r) => (r.baseline ? "baseline" : null) })
      .setRows(E.per_backend || []);
    const plotHost = el("figure", { class: "plot", id: "gt-plot" });
    body.append(plotHost);
    plot(plotHost, D.plots.gt, "IoU against ground truth of every matched detection, per backend and for the box itself.");

    const labels = E.per_label || [];
    if (labels.length) {
      const host = el("div");
      // With a label map, rows are per ground-truth category, which the label filter (detector labels) does not name.
      body.append(el("h3", { text: E.class_aware ? "Per ground-truth category" : "Per label" }), host);
      const table = new Table(host, { columns: [{ key: "label", label: E.class_aware ? "category" : "label" }, backendColumn, ...gtRowColumns],
        rowClass: (r) => (r.baseline ? "baseline" : null) });
      views.push(() => table.setRows(labels.filter((r) => E.class_aware || matchLabel(r.label))));
    }

    const worst = Object.entries(E.worst || {}).flatMap(([backend, entries]) => entries.map((w) => ({ backend, ...w })));
    if (worst.length) {
      const host = el("div");
      body.append(el("h3", { text: "Worst detections against ground truth, per backend" }), host);
      const table = new Table(host, {
        columns: [backendColumn, { key: "iou", label: "IoU vs GT", type: "iou" }, { key: "boundary_iou", label: "boundary IoU", type: "iou" },
          { key: "baseline_iou", label: "box IoU", type: "iou" }, { key: "image", label: "image" }, { key: "detection", label: "det", type: "int" },
          { key: "label", label: "label" }, { key: "category", label: "GT category" }],
        sort: ["iou", 1], pageSize: 10,
        onRow: (row, shown) => openViewer(shown.map((r) => ({ image: imageByName.get(r.image), id: r.detection, pair: null, backend: r.backend })), shown.indexOf(row)),
      });
      views.push(() => table.setRows(worst.filter((w) => matchLabel(w.label) && inRange(w.iou) && matchImage(w.image))));
    }
    for (const [key, title, columns] of [
      ["unmatched_detections", "False positives (detections that matched no ground truth)",
        [{ key: "image", label: "image" }, { key: "detection", label: "det", type: "int" }, { key: "label", label: "label" },
          { key: "confidence", label: "conf", type: "num" }, { key: "best_box_iou", label: "best box IoU", type: "num" }]],
      ["missed_ground_truth", "Missed ground truth (no detection matched it)",
        [{ key: "image", label: "image" }, { key: "gt_id", label: "GT id", type: "int" }, { key: "category", label: "category" },
          { key: "bbox_xyxy_px", label: "box (px)", value: (r) => (Array.isArray(r.bbox_xyxy_px) ? r.bbox_xyxy_px.map((v) => fmt.num(v, 1)).join(", ") : null) }]],
    ]) {
      const rows = E[key] || [];
      if (!rows.length) continue;
      const host = el("div");
      body.append(el("details", null, el("summary", { text: `${title}: ${rows.length}` }), host));
      const opens = key === "unmatched_detections";
      const table = new Table(host, { columns, pageSize: 10,
        onRow: opens ? (row, shown) => openViewer(shown.map((r) => ({ image: imageByName.get(r.image), id: r.detection, pair: null })), shown.indexOf(row)) : null });
      views.push(() => table.setRows(rows.filter((r) => matchImage(r.image) && (!("label" in r) || matchLabel(r.label)))));
    }
  }

  // ---------------------------------------------------------------- the image view
  const viewer = { items: [], pos: 0, built: null, pushed: false, preset: null };
  const layerState = { photo: true, backends: BACKENDS.map(() => true), diff: false, gt: true, boxes: true, zoom: true };

  function openViewer(items, pos, fromHistory) {
    viewer.items = items.filter((it) => it.image !== undefined && detIndex.has(`${it.image}:${it.id}`));
    viewer.pos = Math.max(0, Math.min(viewer.items.length - 1, viewer.items.indexOf(items[pos]) >= 0 ? viewer.items.indexOf(items[pos]) : 0));
    if (!viewer.items.length) return;
    if (!fromHistory) {
      history.pushState({ segkit: true }, "", `#view=${hashOf(viewer.items[viewer.pos])}`);
      viewer.pushed = true;
    }
    $("viewer").hidden = false;
    document.body.style.overflow = "hidden";
    renderViewer();
    $("viewer-close").focus();
  }

  function closeViewer() {
    $("viewer").hidden = true;
    document.body.style.overflow = "";
    if (viewer.pushed) { viewer.pushed = false; history.back(); }
    else if (location.hash.startsWith("#view=")) history.replaceState(null, "", location.pathname + location.search);
  }

  const hashOf = (it) => `${it.image}.${it.id}${it.pair ? "." + PAIRS.findIndex((p) => p.name === it.pair) : ""}`;
  function fromHash() {
    const m = /^#view=(\d+)\.(\d+)(?:\.(\d+))?$/.exec(location.hash);
    if (!m) { if (!$("viewer").hidden) { $("viewer").hidden = true; document.body.style.overflow = ""; } viewer.pushed = false; return; }
    const item = { image: Number(m[1]), id: Number(m[2]), pair: m[3] !== undefined && PAIRS[Number(m[3])] ? PAIRS[Number(m[3])].name : null };
    const known = viewer.items.findIndex((it) => hashOf(it) === hashOf(item));
    if (known >= 0 && !$("viewer").hidden) { viewer.pos = known; renderViewer(); return; }
    openViewer([item], 0, true);
  }

  function step(delta) {
    if (!viewer.items.length) return;
    viewer.pos = (viewer.pos + delta + viewer.items.length) % viewer.items.length;
    history.replaceState(history.state, "", `#view=${hashOf(viewer.items[viewer.pos])}`);
    renderViewer();
  }

  function buildImage(index) {
    // The picture stack of one image: the original, one overlay per backend, the diff, and the boxes.
    const img = IMAGES[index];
    const width = img.width, height = img.height;
    const scale = isNum(img.scale) ? img.scale : Math.min(1, 1024 / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
    const canvas = $("canvas");
    canvas.replaceChildren();
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    const layers = { photo: null, backends: [], diff: null, gt: null };
    if (img.preview) {
      layers.photo = el("img", { src: fileUrl(img.preview), alt: img.name, draggable: "false", "data-layer": "photo" });
      canvas.append(layers.photo);
    }
    img.overlays.forEach((path, k) => {
      const layer = path ? el("img", { class: "layer", src: fileUrl(path), alt: `${BACKENDS[k]} masks`, draggable: "false", "data-layer": `backend-${k}` }) : null;
      layers.backends.push(layer);
      if (layer) canvas.append(layer);
    });
    if (img.diff) {
      layers.diff = el("img", { class: "layer", src: fileUrl(img.diff), alt: "disagreement", draggable: "false", "data-layer": "diff" });
      canvas.append(layers.diff);
    }
    if (img.gt) {
      layers.gt = el("img", { class: "layer", src: fileUrl(img.gt), alt: "ground truth", draggable: "false", "data-layer": "gt" });
      canvas.append(layers.gt);
    }
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    canvas.append(svg);
    viewer.built = { index, w, h, width, height, layers, svg };
  }

  function renderViewer() {
    const item = viewer.items[viewer.pos];
    // A detection opened from a pair shows that pair's masks; from a backend's ground-truth row, that
    // backend's mask and the ground truth. The user's toggles then stay until another such item comes.
    const preset = item.pair ? `pair:${item.pair}` : item.backend ? `backend:${item.backend}` : null;
    if (preset && preset !== viewer.preset) {
      const p = PAIRS.find((q) => q.name === item.pair);
      const shown = p ? [p.a, p.b] : [BACKENDS.indexOf(item.backend)];
      layerState.backends = BACKENDS.map((_, k) => shown.includes(k));
      layerState.diff = false;
      layerState.gt = !p;
      viewer.preset = preset;
    }
    const det = DETS[detIndex.get(`${item.image}:${item.id}`)];
    const img = IMAGES[item.image];
    if (!viewer.built || viewer.built.index !== item.image) buildImage(item.image);
    $("viewer-title").replaceChildren(bidi(img.name), ` · detection ${det.id} · `, bidi(det.label));
    $("viewer-pos").textContent = viewer.items.length > 1 ? `${viewer.pos + 1} / ${viewer.items.length}` : "";
    $("viewer-prev").disabled = $("viewer-next").disabled = viewer.items.length < 2;
    const note = $("viewer-note");
    note.hidden = !img.problem;
    note.textContent = img.problem || "";
    drawBoxes(det);
    renderLayers(img);
    renderNumbers(det, item);
    renderOthers(det);
    applyLayers();
  }

  function drawBoxes(focus) {
    const { svg, width, height } = viewer.built;
    svg.replaceChildren();
    const [x1, y1, x2, y2] = focus.box;
    svg.append(svgEl("path", { class: "dim", d: `M0 0H${width}V${height}H0Z M${x1} ${y1}V${y2}H${x2}V${y1}Z` }));
    for (const det of DETS) {
      if (det.image !== focus.image || det === focus) continue;
      const [a, b, c, d] = det.box;
      svg.append(svgEl("rect", { class: "box", x: a, y: b, width: c - a, height: d - b }));
    }
    svg.append(svgEl("rect", { class: "focus", x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
  }

  function renderLayers(img) {
    const host = $("layers");
    const box = (key, label, checked, onchange, swatch, shortcut, disabled) => el("label", null,
      el("input", { type: "checkbox", checked, disabled, "data-layer": key, onchange }),
      swatch ? el("span", { class: "swatch", vars: { "--c": swatch } }) : null, label, shortcut ? el("kbd", { text: shortcut }) : null);
    const rows = [box("photo", "original", layerState.photo, (e) => { layerState.photo = e.target.checked; applyLayers(); }, null, "o", !img.preview)];
    BACKENDS.forEach((name, k) => rows.push(box(`backend-${k}`, el("span", null, bidi(name), " masks"), layerState.backends[k],
      (e) => { layerState.backends[k] = e.target.checked; applyLayers(); }, D.backends[k].color, k < 9 ? String(k + 1) : null, !img.overlays[k])));
    if (BACKENDS.length >= 2) {
      const label = BACKENDS.length === 2 ? el("span", null, "disagreement: red only ", bidi(BACKENDS[0]), ", blue only ", bidi(BACKENDS[1]))
        : "disagreement (bright: backends split)";
      rows.push(box("diff", label, layerState.diff, (e) => { layerState.diff = e.target.checked; applyLayers(); }, null, "d", !img.diff));
    }
    if (E) rows.push(box("gt", "ground truth (white)", layerState.gt, (e) => { layerState.gt = e.target.checked; applyLayers(); }, "#ffffff", "g", !img.gt));
    rows.push(box("boxes", "boxes (yellow: this detection)", layerState.boxes, (e) => { layerState.boxes = e.target.checked; applyLayers(); }, null, "b"));
    rows.push(box("zoom", "zoom to the detection", layerState.zoom, (e) => { layerState.zoom = e.target.checked; applyLayers(); }, null, "z"));
    host.replaceChildren(...rows);
  }

  function applyLayers() {
    const built = viewer.built;
    if (!built) return;
    const { layers } = built;
    if (layers.photo) layers.photo.hidden = !layerState.photo;
    layers.backends.forEach((layer, k) => { if (layer) layer.hidden = !layerState.backends[k]; });
    if (layers.diff) layers.diff.hidden = !layerState.diff;
    if (layers.gt) layers.gt.hidden = !layerState.gt;
    built.svg.style.display = layerState.boxes ? "" : "none";
    for (const input of $("layers").querySelectorAll("input")) {
      const key = input.dataset.layer;
      input.checked = key === "photo" ? layerState.photo : key === "diff" ? layerState.diff : key === "gt" ? layerState.gt : key === "boxes" ? layerState.boxes
        : key === "zoom" ? layerState.zoom : layerState.backends[Number(key.slice(8))];
    }
    fit();
  }

  function fit() {
    const built = viewer.built;
    if (!built || $("viewer").hidden) return;
    const stage = $("stage").getBoundingClientRect();
    const item = viewer.items[viewer.pos];
    const det = DETS[detIndex.get(`${item.image}:${item.id}`)];
    const k = built.w / built.width; // preview pixels per original pixel
    let cx = built.w / 2, cy = built.h / 2, rw = built.w, rh = built.h, cap = 4;
    if (layerState.zoom && det) {
      const [x1, y1, x2, y2] = det.box.map((v) => v * k);
      const margin = 0.3 * Math.max(x2 - x1, y2 - y1, 24);
      cx = (x1 + x2) / 2; cy = (y1 + y2) / 2;
      rw = x2 - x1 + 2 * margin; rh = y2 - y1 + 2 * margin;
      cap = 12;
    }
    const s = Math.min(cap, (stage.width - 16) / rw, (stage.height - 16) / rh);
    // Centred on the detection, but never leaving empty stage on a side the picture could fill.
    const place = (room, content, centre) => (content <= room ? (room - content) / 2 : Math.min(0, Math.max(room - content, room / 2 - centre)));
    const tx = place(stage.width, s * built.w, s * cx), ty = place(stage.height, s * built.h, s * cy);
    $("canvas").style.transform = `translate(${tx}px, ${ty}px) scale(${s})`;
    // Box outlines keep their width on screen at any zoom (non-scaling-stroke ignores CSS transforms).
    const unit = 1 / (s * k);
    for (const rect of built.svg.querySelectorAll("rect")) rect.setAttribute("stroke-width", String((rect.classList.contains("focus") ? 2.5 : 1) * unit));
  }

  function renderNumbers(det, item) {
    const img = IMAGES[det.image];
    const gt = det.gt;
    const rows = [
      ["image", img.name], ["detection", det.id], ["label", det.label], ["confidence", fmt.num(det.confidence)],
      ["box (px)", det.box.map((v) => fmt.num(v, 1)).join(", ")],
    ];
    if (gt) {
      rows.push(["ground truth", gt.status === "matched" ? el("span", null, `matched: id ${fmt.text(gt.gt_id)}`, gt.category ? ", " : "", gt.category ? bidi(gt.category) : "")
        : fmt.text(gt.status)]);
      if (isNum(gt.box_iou)) rows.push(["box IoU vs GT", fmt.num(gt.box_iou)]);
    }
    const facts = el("table", null, el("tbody", null, ...rows.map(([k, v]) => el("tr", null, el("th", { scope: "row", text: k }),
      typeof v === "object" ? el("td", { class: "text" }, v) : el("td", { class: "text", text: v })))));
    const hasGt = gt && gt.iou.some(isNum);
    const lowCell = (v) => el("td", { class: "num" + (isNum(v) && v < THRESHOLD ? " low" : ""), text: fmt.num(v), title: isNum(v) ? String(v) : null });
    const perBackend = el("table", { "data-role": "backends" },
      el("thead", null, el("tr", null, el("th", { text: "backend" }), el("th", { class: "num", text: "area", title: "mask area in pixels" }),
        el("th", { class: "num", text: "score" }),
        hasGt ? el("th", { class: "num", text: "GT IoU", title: "mask IoU against the matched ground truth" }) : null,
        hasGt ? el("th", { class: "num", text: "bound.", title: "boundary IoU against the matched ground truth" }) : null)),
      el("tbody", null, ...BACKENDS.map((name, k) => el("tr", null,
        el("td", null, el("span", { class: "swatch", vars: { "--c": D.backends[k].color } }), name),
        el("td", { class: "num", text: fmt.int(det.areas[k]) }), el("td", { class: "num", text: fmt.num(det.scores[k]) }),
        hasGt ? lowCell(gt.iou[k]) : null, hasGt ? lowCell(gt.boundary_iou[k]) : null))));
    const parts = [el("h3", { text: "This detection" }), facts, el("h3", { text: "Per backend" }), perBackend];
    if (PAIRS.length) {
      const perPair = el("table", { "data-role": "pairs" },
        el("thead", null, el("tr", null, el("th", { text: "pair" }), el("th", { class: "num", text: "IoU" }))),
        el("tbody", null, ...PAIRS.map((p, k) => el("tr", null,
          el("td", null, bidi(p.name), p.name === item.pair ? " ◂" : ""), lowCell(det.ious[k])))));
      parts.push(el("h3", { text: "Pair IoU" }), perPair);
    }
    if (img.panel) parts.push(el("p", null, el("a", { href: fileUrl(img.panel), target: "_blank", rel: "noopener noreferrer", text: "open the panel (JPEG)" })));
    $("viewer-numbers").replaceChildren(...parts);
  }

  function renderOthers(focus) {
    const same = DETS.filter((d) => d.image === focus.image);
    if (same.length < 2) { $("viewer-others").replaceChildren(); return; }
    const items = same.map((d) => ({ image: d.image, id: d.id, pair: null }));
    $("viewer-others").replaceChildren(el("h3", { text: "Detections in this image" }), el("div", { class: "chips" },
      ...same.map((d, i) => el("button", { type: "button", "aria-current": d === focus ? "true" : null, onclick: () => openViewer(items, i, true) },
        `${d.id} `, bidi(d.label)))));
  }

  function setUpViewer() {
    $("viewer-close").addEventListener("click", closeViewer);
    $("viewer-prev").addEventListener("click", () => step(-1));
    $("viewer-next").addEventListener("click", () => step(1));
    document.addEventListener("keydown", (e) => {
      if ($("viewer").hidden || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox") return;
      const key = e.key;
      if (key === "Escape") closeViewer();
      else if (key === "ArrowLeft") step(-1);
      else if (key === "ArrowRight") step(1);
      else if (key === "o") layerState.photo = !layerState.photo;
      else if (key === "d") layerState.diff = !layerState.diff;
      else if (key === "g") layerState.gt = !layerState.gt;
      else if (key === "b") layerState.boxes = !layerState.boxes;
      else if (key === "z") layerState.zoom = !layerState.zoom;
      else if (/^[1-9]$/.test(key) && Number(key) <= BACKENDS.length) layerState.backends[Number(key) - 1] = !layerState.backends[Number(key) - 1];
      else return;
      e.preventDefault();
      applyLayers();
    });
    window.addEventListener("resize", fit);
    window.addEventListener("popstate", fromHash);
  }

  // ---------------------------------------------------------------- start
  runSection();
  pairsSection();
  gallerySection();
  detectionsSection();
  labelsSection();
  gtSection();
  header();
  setUpFilters();
  setUpViewer();
  applyFilters();
  if (location.hash.startsWith("#view=")) fromHash();
  document.documentElement.dataset.ready = "true";
})();
