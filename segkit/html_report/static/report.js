"use strict";
// segkit's HTML report. Every number shown comes from the page's data (segkit.html_report.model): the index
// embedded in the page (report.json, eval.json, the image list, the plots, the gallery) and the chunks beside
// it, html/data/rows-<n>.js (the detections) and masks-<n>.js (each image's masks at preview scale), loaded
// with script elements when needed: the rows in the background for the detections table, both at once for an
// image view. Nothing is computed here but formatting, sorting, filtering and drawing the masks. Every string
// from the data (labels, file names, settings) goes into the page as a text node or an attribute value, never
// as markup, and is bidi-isolated (<bdi>, dir=auto) so that no control character in it reorders its neighbours.
(() => {
  const D = JSON.parse(document.getElementById("segkit-data").textContent);
  const R = D.report || {};
  const E = D.eval || null;
  const C = D.colors;
  const THRESHOLD = typeof R.iou_threshold === "number" ? R.iou_threshold : 0.5;
  const BACKENDS = D.backends.map((b) => b.name);
  const PAIRS = (R.pairs || []).map((p) => ({ name: p.pair, a: BACKENDS.indexOf(p.a), b: BACKENDS.indexOf(p.b) }));
  const NB = BACKENDS.length, NP = PAIRS.length;
  const IMAGES = D.images; // columns: name, chunk, detections, min_iou, failed
  const NI = IMAGES.name.length;
  const ND = D.detections;
  const LABELS = D.labels;
  const labelIndex = new Map(LABELS.map((label, i) => [label, i]));
  const imageByName = new Map(IMAGES.name.map((name, i) => [name, i]));

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
  const bdi = (text) => el("bdi", { text }); // a label or a name inside our own text
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
  const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
  const collator = new Intl.Collator();

  // ---------------------------------------------------------------- sortable, paginated tables
  // columns: {key, label, type: "text" | "int" | "num" | "pct" | "iou" | "sec" | "backend", value(row), sort(row), title}
  // Rows may be objects or numbers (a detection row's id): a column reads them with value(row); sort(row), when
  // given, is the number to sort by (a label's rank), so that a million rows sort without comparing strings.
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
    setRows(rows, keepPage) {
      this.rows = rows;
      this.order = null;
      if (!keepPage) this.page = 0;
      this.render();
    }
    sorted() {
      if (this.order) return this.order;
      const col = this.columns.find((c) => c.key === this.sortKey);
      const rows = this.rows, n = rows.length;
      if (!col) return (this.order = rows);
      const keys = new Array(n);
      let numeric = true;
      for (let i = 0; i < n; i++) {
        const v = col.sort ? col.sort(rows[i]) : this.value(col, rows[i]);
        keys[i] = missing(v) ? null : v;
        if (keys[i] !== null && typeof v !== "number") numeric = false;
      }
      const dir = this.sortDir;
      const index = new Uint32Array(n);
      for (let i = 0; i < n; i++) index[i] = i;
      // Missing values last either way; ties keep the rows' order (as a stable sort would).
      if (numeric) {
        const k = Float64Array.from(keys, (v) => (v === null ? NaN : v));
        index.sort((a, b) => {
          const x = k[a], y = k[b];
          if (x !== x || y !== y) return x !== x && y !== y ? a - b : x !== x ? 1 : -1;
          return dir * (x - y) || a - b;
        });
      } else {
        const s = keys.map((v) => (v === null ? null : String(v)));
        index.sort((a, b) => {
          const x = s[a], y = s[b];
          if (x === null || y === null) return x === y ? a - b : x === null ? 1 : -1;
          return dir * collator.compare(x, y) || a - b;
        });
      }
      const out = Array.isArray(rows) ? new Array(n) : new rows.constructor(n);
      for (let i = 0; i < n; i++) out[i] = rows[index[i]];
      return (this.order = out);
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
        td.append(bdi(fmt.text(v)));
      } else if (type === "text") {
        td.textContent = fmt.text(v);
        td.dir = "auto";
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
      shown.forEach((row, i) => {
        const tr = el("tr", { class: this.rowClass ? this.rowClass(row) : null });
        for (const col of this.columns) tr.append(this.cell(col, row));
        if (this.onRow) {
          tr.classList.add("clickable");
          tr.tabIndex = 0;
          tr.addEventListener("click", () => this.onRow(row, rows, start + i));
          tr.addEventListener("keydown", (e) => { if (e.key === "Enter") this.onRow(row, rows, start + i); });
        }
        body.append(tr);
      });
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

  // ---------------------------------------------------------------- the detections, as the chunks arrive
  // Column stores over every detection of the page (index: the detection's place in the chunks' order);
  // NaN / -1 until its chunk is loaded or where the record has no value.
  const S = {
    image: new Int32Array(ND).fill(-1), id: new Int32Array(ND), label: new Int32Array(ND),
    conf: new Float64Array(ND).fill(NaN), box: new Float32Array(4 * ND),
    area: new Float64Array(ND * NB).fill(NaN), score: new Float64Array(ND * NB).fill(NaN),
    iou: new Float64Array(ND * NP).fill(NaN), gt: D.has_gt ? new Array(ND).fill(null) : null,
  };
  const IMG = new Array(NI).fill(null); // per image, once its chunk is loaded: size, panel, failed, preview, first, count
  const chunks = D.chunks.map(() => ({ rows: null, loaded: false, masks: null }));
  const maskCache = new Map(); // chunk -> Map(image index -> masks), the few last used
  const MASK_CHUNKS_KEPT = 6;
  let loadedChunks = 0, failedChunks = [];

  const pairOf = (name) => {
    const k = PAIRS.findIndex((p) => p.name === name);
    if (k >= 0) return k;
    return PAIRS.findIndex((p) => `${BACKENDS[p.b]} vs ${BACKENDS[p.a]}` === name);
  };

  window.segkitChunk = (n, data) => {
    const info = D.chunks[n];
    if (!info || chunks[n].loaded || data.number !== n) return;
    const base = info.first_detection;
    const bmap = data.backends.map((name) => BACKENDS.indexOf(name));
    const pmap = data.pairs.map(pairOf);
    const c = data.detections, im = data.images;
    for (let j = 0; j < im.index.length; j++) {
      const first = base + im.first[j];
      S.image.fill(im.index[j], first, first + im.count[j]);
      IMG[im.index[j]] = {
        width: im.width[j], height: im.height[j], panel: im.panel[j], failed: im.failed[j], first, count: im.count[j],
        preview: isNum(im.preview_width[j]) ? { file: im.preview_file[j], width: im.preview_width[j], height: im.preview_height[j] } : null,
      };
    }
    for (let i = 0; i < c.id.length; i++) {
      const g = base + i;
      S.id[g] = c.id[i];
      S.label[g] = c.label[i];
      S.conf[g] = c.confidence[i] === null ? NaN : c.confidence[i];
      const box = c.box[i];
      S.box[4 * g] = box[0]; S.box[4 * g + 1] = box[1]; S.box[4 * g + 2] = box[2]; S.box[4 * g + 3] = box[3];
      const areas = c.areas[i], scores = c.scores[i], ious = c.ious[i];
      for (let j = 0; j < bmap.length; j++) {
        const k = bmap[j];
        if (k < 0) continue;
        if (areas[j] !== null) S.area[g * NB + k] = areas[j];
        if (scores[j] !== null) S.score[g * NB + k] = scores[j];
      }
      for (let j = 0; j < pmap.length; j++) if (pmap[j] >= 0 && ious[j] !== null) S.iou[g * NP + pmap[j]] = ious[j];
      const gt = c.gt[i];
      if (gt && S.gt) {
        const order = (values) => BACKENDS.map((_, k) => { const j = bmap.indexOf(k); return j >= 0 && isNum(values[j]) ? values[j] : null; });
        S.gt[g] = { status: gt.status, gt_id: gt.gt_id, category: gt.category, iou: order(gt.iou), boundary_iou: order(gt.boundary_iou), box_iou: gt.box_iou };
      }
    }
    chunks[n].loaded = true;
    loadedChunks++;
  };
  window.segkitMasks = (n, data) => {
    if (!D.chunks[n] || data.number !== n) return;
    maskCache.delete(n);
    maskCache.set(n, new Map(data.index.map((index, j) => [index, { masks: data.masks[j], gt: data.gt[j] }])));
    while (maskCache.size > MASK_CHUNKS_KEPT) maskCache.delete(maskCache.keys().next().value);
  };

  function loadScript(path) {
    // A script element, not a fetch: a page opened from the file system may load scripts beside it, nothing else.
    return new Promise((resolve, reject) => {
      const script = el("script", { src: fileUrl(path) });
      script.onload = () => { script.remove(); resolve(); };
      script.onerror = () => { script.remove(); reject(new Error(`${path} could not be loaded`)); };
      document.head.append(script);
    });
  }
  function loadRows(n) {
    const state = chunks[n];
    if (!state.rows) {
      state.rows = loadScript(D.chunks[n].rows).then(() => {
        if (!state.loaded) throw new Error(`${D.chunks[n].rows} is not this page's chunk ${n}`);
      });
      state.rows.catch(() => { if (!failedChunks.includes(n)) failedChunks.push(n); });
    }
    return state.rows;
  }
  function loadMasks(n) {
    if (maskCache.has(n)) return Promise.resolve(maskCache.get(n));
    const state = chunks[n];
    if (!state.masks) {
      state.masks = loadScript(D.chunks[n].masks).then(() => {
        state.masks = null;
        if (!maskCache.has(n)) throw new Error(`${D.chunks[n].masks} is not this page's chunk ${n}`);
        return maskCache.get(n);
      }, (error) => { state.masks = null; throw error; });
    }
    return state.masks;
  }
  const imageChunk = (index) => IMAGES.chunk[index];

  // A detection's place in the stores, by image and id (once the image's chunk is loaded).
  function detAt(image, id) {
    const info = IMG[image];
    if (!info) return -1;
    for (let g = info.first; g < info.first + info.count; g++) if (S.id[g] === id) return g;
    return -1;
  }
  const boxOf = (g) => [S.box[4 * g], S.box[4 * g + 1], S.box[4 * g + 2], S.box[4 * g + 3]];
  const numOr = (v) => (Number.isNaN(v) ? null : v);
  const areaOf = (g, k) => numOr(S.area[g * NB + k]);
  const scoreOf = (g, k) => numOr(S.score[g * NB + k]);
  const iouOf = (g, k) => numOr(S.iou[g * NP + k]);
  const gtOf = (g) => (S.gt ? S.gt[g] : null);
  let labelRank = null, imageRank = null; // sort keys for the detections table, made on first use
  const rankOf = (names) => {
    const order = names.map((_, i) => i).sort((a, b) => collator.compare(names[a], names[b]) || a - b);
    const rank = new Int32Array(names.length);
    order.forEach((i, r) => { rank[i] = r; });
    return rank;
  };
  const labelRankOf = (label) => (labelRank || (labelRank = rankOf(LABELS)))[label];
  const imageRankOf = (image) => (imageRank || (imageRank = rankOf(IMAGES.name)))[image];

  // ---------------------------------------------------------------- masks at preview scale
  // A mask is [x, y, w, h, runs]: its crop's place in the preview and its pixels row after row as run lengths,
  // background first, each in 5-bit digits of RUN_DIGITS, lowest first, +32 meaning another digit follows
  // (segkit.outputs.previews.encode_runs).
  const RUN_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const DIGIT = new Int8Array(128).fill(-1);
  for (let i = 0; i < RUN_DIGITS.length; i++) DIGIT[RUN_DIGITS.charCodeAt(i)] = i;
  function decodeRuns(counts, w, h) {
    const out = new Uint8Array(w * h);
    let pos = 0, value = 0, scale = 1, fg = false;
    for (let i = 0; i < counts.length; i++) {
      const code = counts.charCodeAt(i);
      const d = code < 128 ? DIGIT[code] : -1;
      if (d < 0) break; // not ours: what was read so far is drawn
      value += (d & 31) * scale;
      if (d & 32) { scale *= 32; continue; }
      if (fg) out.fill(1, pos, Math.min(pos + value, out.length));
      pos += value;
      fg = !fg;
      value = 0;
      scale = 1;
    }
    return out;
  }
  const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

  // Masks filled see-through in one colour, each outlined (a crop's edge counts as outside).
  function paintMasks(w, h, list, hex) {
    const [r, g, b] = rgbOf(hex);
    const image = new ImageData(w, h);
    const px = image.data;
    const crops = list.map(([x, y, cw, ch, runs]) => [x, y, cw, ch, decodeRuns(runs, cw, ch)]);
    for (const [x, y, cw, ch, crop] of crops) {
      for (let j = 0; j < ch; j++) {
        const yy = y + j;
        if (yy < 0 || yy >= h) continue;
        for (let i = 0; i < cw; i++) {
          const xx = x + i;
          if (!crop[j * cw + i] || xx < 0 || xx >= w) continue;
          const o = 4 * (yy * w + xx);
          if (px[o + 3]) continue;
          px[o] = r; px[o + 1] = g; px[o + 2] = b; px[o + 3] = C.fill_alpha;
        }
      }
    }
    for (const [x, y, cw, ch, crop] of crops) {
      const at = (i, j) => i >= 0 && j >= 0 && i < cw && j < ch && crop[j * cw + i];
      for (let j = 0; j < ch; j++) {
        for (let i = 0; i < cw; i++) {
          if (!crop[j * cw + i]) continue;
          let edge = false;
          for (let dj = -1; dj <= 1 && !edge; dj++) for (let di = -1; di <= 1; di++) if (!at(i + di, j + dj)) { edge = true; break; }
          const xx = x + i, yy = y + j;
          if (!edge || xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
          const o = 4 * (yy * w + xx);
          px[o] = r; px[o + 1] = g; px[o + 2] = b; px[o + 3] = 255;
        }
      }
    }
    return image;
  }

  // Masks of one detection pasted into their common window: [x0, y0, w, h, [a Uint8Array per mask]].
  function stacked(masks) {
    const present = masks.filter((m) => m);
    if (!present.length) return null;
    const x0 = Math.min(...present.map((m) => m[0])), y0 = Math.min(...present.map((m) => m[1]));
    const x1 = Math.max(...present.map((m) => m[0] + m[2])), y1 = Math.max(...present.map((m) => m[1] + m[3]));
    const ww = x1 - x0, wh = y1 - y0;
    const layers = masks.map((m) => {
      const out = new Uint8Array(ww * wh);
      if (!m) return out;
      const [x, y, cw, ch, runs] = m;
      const crop = decodeRuns(runs, cw, ch);
      for (let j = 0; j < ch; j++) out.set(crop.subarray(j * cw, (j + 1) * cw), (y - y0 + j) * ww + (x - x0));
      return out;
    });
    return [x0, y0, ww, wh, layers];
  }

  // Where the backends disagree, over the detections all of them answered: two backends, red where only the
  // first covers a pixel and blue where only the second (a detection at a time, then united); three or
  // more, per pixel min(k, n - k) / (n / 2) of the n backends, k covering it (the worst detection's).
  function paintDisagreement(w, h, perDetection, n) {
    const image = new ImageData(w, h);
    const px = image.data;
    const level = new Float32Array(w * h);
    const onlyA = new Uint8Array(w * h), onlyB = new Uint8Array(w * h);
    for (const masks of perDetection) {
      const win = stacked(masks);
      if (!win) continue;
      const [x0, y0, ww, wh, layers] = win;
      for (let j = 0; j < wh; j++) {
        const yy = y0 + j;
        if (yy < 0 || yy >= h) continue;
        for (let i = 0; i < ww; i++) {
          const xx = x0 + i;
          if (xx < 0 || xx >= w) continue;
          const p = j * ww + i, q = yy * w + xx;
          if (n === 2) {
            const a = layers[0][p], b = layers[1][p];
            if (a && !b) onlyA[q] = 1;
            if (b && !a) onlyB[q] = 1;
          } else {
            let k = 0;
            for (const layer of layers) k += layer[p];
            const split = Math.min(k, n - k) / (n / 2);
            if (split > level[q]) level[q] = split;
          }
        }
      }
    }
    const first = rgbOf(C.only_first), second = rgbOf(C.only_second), heat = C.heat.map(rgbOf);
    for (let q = 0; q < w * h; q++) {
      let rgba = C.veil;
      if (n === 2) {
        if (onlyB[q]) rgba = [...second, 255];
        else if (onlyA[q]) rgba = [...first, 255];
      } else if (level[q] > 0) {
        rgba = [...heat[Math.min(heat.length, Math.max(1, Math.ceil(level[q] * heat.length))) - 1], 255];
      }
      px.set(rgba, 4 * q);
    }
    return image;
  }

  function layerCanvas(image, name) {
    const canvas = el("canvas", { class: "layer", width: image.width, height: image.height, "data-layer": name, "aria-hidden": "true" });
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }

  // ---------------------------------------------------------------- filters
  const filters = { label: "", pair: "", min: 0, max: 1, image: "" };
  const inRange = (v) => !isNum(v) || (v >= filters.min && v <= filters.max);
  const matchLabel = (label) => !filters.label || label === filters.label;
  const matchPair = (pair) => !filters.pair || pair === filters.pair;
  const matchImage = (name) => !filters.image || String(name).toLowerCase().includes(filters.image.toLowerCase());

  function setUpFilters() {
    const labelSelect = $("f-label");
    for (const label of [...LABELS].sort((a, b) => collator.compare(a, b))) labelSelect.append(el("option", { value: label, text: label, dir: "auto" }));
    const pairSelect = $("f-pair");
    for (const p of PAIRS) pairSelect.append(el("option", { value: p.name, text: p.name, dir: "auto" }));
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
      const rows = Object.entries(b.settings || {}).map(([k, v]) => el("tr", null, el("td", { text: k, dir: "auto" }),
        el("td", { class: "text", dir: "auto", text: typeof v === "object" ? JSON.stringify(v) : String(v) })));
      settings.append(el("details", null, el("summary", null, el("span", { class: "swatch", vars: { "--c": b.color } }), bdi(b.name), " settings"),
        rows.length ? el("table", null, el("tbody", null, ...rows)) : el("div", { class: "empty", text: "no settings recorded" })));
    }
    if (D.failures.length) {
      const host = el("div");
      $("failures").replaceChildren(el("h3", { text: `Failures of the last run (failures.json, ${D.failures_total})` }), host);
      new Table(host, { columns: [{ key: "image", label: "image" }, { key: "backend", label: "backend" }, { key: "error", label: "error" }], pageSize: 10 })
        .setRows(D.failures.filter((f) => f && typeof f === "object"));
    }
    showNotes();
  }

  function showNotes() {
    const notes = [...D.notes];
    if (failedChunks.length) {
      notes.push(`${failedChunks.length} of ${D.chunks.length} data files under html/data/ could not be loaded: their detections are`
        + " missing from the tables; copy the whole folder (report.html with html/) to share the page");
    }
    if (notes.length) {
      $("notes").replaceChildren(el("div", { class: "note" }, el("b", { text: "Notes: " }), el("ul", null, ...notes.map((n) => el("li", { text: n, dir: "auto" })))));
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

  // ---------------------------------------------------------------- the worst detections, as cards
  const GALLERY = new Map(D.gallery.map((g) => [`${g.image}:${g.detection}`, g]));

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
      host.replaceChildren(...shown.map((w, i) => card(w, () => openViewer(listOf(items), i))));
      if (!shown.length) host.append(el("div", { class: "empty", text: "no worst detection matches the filters" }));
    });
  }

  function card(w, open) {
    const canvas = el("canvas", { class: "thumb", width: 240, height: 180, role: "img", "aria-label": `${w.label} in ${w.image}` });
    const entry = GALLERY.get(`${w.imageIndex}:${w.detection}`);
    const pair = PAIRS.find((p) => p.name === w.pair);
    if (entry && pair) drawCard(canvas, entry, entry.masks[BACKENDS[pair.a]], entry.masks[BACKENDS[pair.b]]);
    return el("button", { type: "button", class: "card", onclick: open, "data-image": w.image, "data-detection": w.detection },
      canvas,
      el("span", { class: "meta" },
        el("span", null, el("b", { text: fmt.num(w.iou) }), " IoU"),
        el("span", { class: "label", text: w.label, dir: "auto" }),
        el("span", { class: "muted", text: w.pair, dir: "auto" }),
        el("span", { class: "muted" }, bdi(w.image), ` · det ${w.detection}`)));
  }

  // The detection's box with a margin, cut from the preview, only-a red and only-b blue drawn on it.
  function drawCard(canvas, g, a, b) {
    const ctx = canvas.getContext("2d");
    const s = g.scale;
    const [x1, y1, x2, y2] = g.box.map((v) => v * s);
    const margin = Math.max(8 * s, 0.15 * Math.max(x2 - x1, y2 - y1));
    const left = Math.max(0, Math.floor(x1 - margin)), top = Math.max(0, Math.floor(y1 - margin));
    const right = Math.max(left + 1, Math.min(g.width, Math.ceil(x2 + margin))), bottom = Math.max(top + 1, Math.min(g.height, Math.ceil(y2 + margin)));
    const cw = right - left, ch = bottom - top;
    const k = Math.min(canvas.width / cw, canvas.height / ch);
    const dw = cw * k, dh = ch * k, dx = (canvas.width - dw) / 2, dy = (canvas.height - dh) / 2;
    const paint = (photo) => {
      ctx.fillStyle = "#222";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (photo) ctx.drawImage(photo, left, top, cw, ch, dx, dy, dw, dh);
      else { ctx.fillStyle = "#606060"; ctx.fillRect(dx, dy, dw, dh); }
      const win = stacked([a, b]);
      if (win) {
        const [x0, y0, ww, wh, [la, lb]] = win;
        const xor = new ImageData(cw, ch);
        const first = rgbOf(C.only_first), second = rgbOf(C.only_second);
        for (let j = 0; j < wh; j++) {
          for (let i = 0; i < ww; i++) {
            const xx = x0 + i - left, yy = y0 + j - top, p = j * ww + i;
            if (xx < 0 || yy < 0 || xx >= cw || yy >= ch || la[p] === lb[p]) continue;
            xor.data.set([...(la[p] ? first : second), 166], 4 * (yy * cw + xx));
          }
        }
        const layer = el("canvas", { width: cw, height: ch });
        layer.getContext("2d").putImageData(xor, 0, 0);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(layer, dx, dy, dw, dh);
      }
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1;
      ctx.strokeRect(dx + (x1 - left) * k, dy + (y1 - top) * k, (x2 - x1) * k, (y2 - y1) * k);
      canvas.dataset.drawn = "true";
    };
    if (!g.picture) { paint(null); return; }
    const photo = new Image();
    photo.onload = () => paint(photo);
    photo.onerror = () => paint(null);
    photo.src = fileUrl(g.picture);
  }

  // ---------------------------------------------------------------- the image list
  function imagesSection() {
    if (!NI) { $("images").hidden = true; return; }
    const all = Int32Array.from({ length: NI }, (_, i) => i);
    const table = new Table($("images-table"), {
      columns: [
        { key: "image", label: "image", value: (i) => IMAGES.name[i], sort: imageRankOf },
        { key: "detections", label: "detections", type: "int", value: (i) => IMAGES.detections[i] },
        ...(PAIRS.length ? [{ key: "min_iou", label: "lowest IoU", type: "iou", value: (i) => IMAGES.min_iou[i] }] : []),
        { key: "failed", label: "backends failed", type: "int", value: (i) => IMAGES.failed[i] },
      ],
      sort: PAIRS.length ? ["min_iou", 1] : ["image", 1],
      onRow: (row, rows, position) => openViewer({ size: rows.length, at: (i) => ({ image: rows[i], id: null, pair: null }) }, position),
    });
    views.push(() => table.setRows(filters.image ? all.filter((i) => matchImage(IMAGES.name[i])) : all));
  }

  // ---------------------------------------------------------------- every detection
  // A row is a detection and a pair: its number is detection * pairs + pair (the detection, with no pair).
  function detectionsSection() {
    const detOf = (r) => (NP ? Math.floor(r / NP) : r);
    const pairIn = (r) => (NP ? r % NP : -1);
    const imageName = (r) => IMAGES.name[S.image[detOf(r)]];
    const common = [
      { key: "image", label: "image", value: imageName, sort: (r) => imageRankOf(S.image[detOf(r)]) },
      { key: "id", label: "det", type: "int", value: (r) => S.id[detOf(r)] },
      { key: "label", label: "label", value: (r) => LABELS[S.label[detOf(r)]], sort: (r) => labelRankOf(S.label[detOf(r)]) },
      { key: "confidence", label: "conf", type: "num", value: (r) => numOr(S.conf[detOf(r)]) },
    ];
    const gtIou = (r, k) => { const gt = gtOf(detOf(r)); return gt && k >= 0 ? gt.iou[k] : null; };
    const side = (r, which) => PAIRS[pairIn(r)][which];
    const columns = NP ? [
      ...common, { key: "pair", label: "pair", value: (r) => PAIRS[pairIn(r)].name, sort: pairIn },
      { key: "iou", label: "IoU", type: "iou", value: (r) => iouOf(detOf(r), pairIn(r)) },
      { key: "area_a", label: "area a", type: "int", value: (r) => areaOf(detOf(r), side(r, "a")) },
      { key: "area_b", label: "area b", type: "int", value: (r) => areaOf(detOf(r), side(r, "b")) },
      { key: "ratio", label: "b/a", type: "num", value: (r) => {
        const a = areaOf(detOf(r), side(r, "a")), b = areaOf(detOf(r), side(r, "b"));
        return a > 0 && isNum(b) ? b / a : null;
      } },
      ...(D.has_gt ? [
        { key: "gt_a", label: "GT IoU a", type: "iou", title: "IoU of the pair's first backend against ground truth", value: (r) => gtIou(r, side(r, "a")) },
        { key: "gt_b", label: "GT IoU b", type: "iou", title: "IoU of the pair's second backend against ground truth", value: (r) => gtIou(r, side(r, "b")) },
      ] : []),
    ] : [
      ...common,
      { key: "area_a", label: "area px", type: "int", value: (r) => areaOf(r, 0) },
      { key: "score", label: "score", type: "num", value: (r) => scoreOf(r, 0) },
      ...(D.has_gt ? [{ key: "gt_a", label: "IoU vs GT", type: "iou", value: (r) => gtIou(r, 0) }] : []),
    ];
    const table = new Table($("detections-table"), {
      columns, pageSize: 25, sort: NP ? ["iou", 1] : ["image", 1],
      onRow: (row, rows, position) => openViewer({
        size: rows.length, at: (i) => ({ image: S.image[detOf(rows[i])], id: S.id[detOf(rows[i])], pair: NP ? PAIRS[pairIn(rows[i])].name : null }),
      }, position),
    });
    let total = 0;
    const select = () => {
      // Every loaded detection row that passes the filters, in the chunks' order.
      const label = filters.label ? (labelIndex.has(filters.label) ? labelIndex.get(filters.label) : -2) : -1;
      const pair = filters.pair ? PAIRS.findIndex((p) => p.name === filters.pair) : -1;
      const named = filters.image ? Uint8Array.from(IMAGES.name, (name) => (matchImage(name) ? 1 : 0)) : null;
      const { min, max } = filters;
      const out = [];
      let rows = 0;
      for (let g = 0; g < ND; g++) {
        const image = S.image[g];
        if (image < 0) continue; // its chunk is not loaded (yet)
        if (!NP) {
          rows++;
          if ((label < 0 || S.label[g] === label) && (!named || named[image])) out.push(g);
          continue;
        }
        const keep = (label < 0 || S.label[g] === label) && (!named || named[image]);
        for (let k = 0; k < NP; k++) {
          const v = S.iou[g * NP + k];
          if (v !== v) continue; // the pair did not both answer this detection: no row
          rows++;
          if (keep && (pair < 0 || pair === k) && v >= min && v <= max) out.push(g * NP + k);
        }
      }
      total = rows;
      return Int32Array.from(out);
    };
    const loading = $("detections-loading");
    const show = (keepPage) => {
      const rows = select();
      table.setRows(rows, keepPage);
      const done = loadedChunks + failedChunks.length >= D.chunks.length;
      $("f-count").textContent = `${rows.length} of ${total} detection rows` + (done ? "" : ` (loading: ${loadedChunks} of ${D.chunks.length} chunks)`);
      loading.textContent = done ? "" : `Loading the detections: ${loadedChunks} of ${D.chunks.length} chunks; the table shows those loaded.`;
    };
    views.push(() => show(false));
    return show;
  }

  // Every row chunk, one after another in the background; the detections table follows as they arrive.
  async function loadEverything(refresh) {
    let last = performance.now(), cost = 0;
    for (let n = 0; n < D.chunks.length; n++) {
      try { await loadRows(n); } catch (error) { /* listed in the notes below */ }
      if (performance.now() - last > Math.max(400, 4 * cost)) {
        const started = performance.now();
        refresh(true);
        cost = performance.now() - started;
        last = performance.now();
      }
    }
    refresh(true);
    showNotes();
    document.documentElement.dataset.loaded = "true";
  }

  // ---------------------------------------------------------------- ground truth (eval.json)
  // eval.json (version 1): per_backend and per_label rows (the box baseline has baseline: true), best,
  // worst {backend: [entries]}, unmatched_detections, missed_ground_truth; each detection's scores are in
  // its image record (the chunks' `gt` column).
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
    body.append(el("p", { class: "muted" }, "Scored against ", el("code", { text: fmt.text(source.path), dir: "auto" }),
      source.format ? ` (${source.format})` : "", E.class_aware ? ", class-aware (label map)" : ", class-agnostic",
      isNum(E.iou_match) ? `, matched at box IoU ≥ ${E.iou_match}` : "", "."));
    const facts = [[E.images, "images scored"], [E.matched, "matched detections"], [E.false_positives, "false positives"],
      [E.misses, "missed ground truth"]];
    if (E.unmapped) facts.push([E.unmapped, "unmapped labels"]);
    if ((E.images_without_ground_truth || []).length) facts.push([E.images_without_ground_truth.length, "images without ground truth"]);
    body.append(el("div", { class: "facts" }, ...facts.map(([v, label]) => el("div", { class: "fact" }, el("b", { text: fmt.text(v) }), el("span", { text: label })))));
    const problems = [...(E.image_problems || []).map((p) => `${p.image}: ${p.problem}`),
      ...((E.images_without_ground_truth || []).length ? [`no ground truth for: ${E.images_without_ground_truth.join(", ")}`] : [])];
    if (problems.length) body.append(el("div", { class: "note" }, el("ul", null, ...problems.map((t) => el("li", { text: t, dir: "auto" })))));

    const perBackend = el("div");
    body.append(el("h3", { text: "Per backend (the box itself as a mask: the baseline)" }), perBackend);
    new Table(perBackend, { columns: [backendColumn, ...gtRowColumns], rowClass: (r) => (r.baseline ? "baseline" : null) })
      .setRows(E.per_backend || []);
    const plotHost = el("figure", { class: "plot", id: "gt-plot" });
    body.append(plotHost);
    plot(plotHost, D.plots.gt, "IoU against ground truth of every matched detection, per backend and for the box itself (quartiles to 0.001).");

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
        onRow: (row, shown, position) => openViewer(listOf(shown.map((r) => ({ image: imageByName.get(r.image), id: r.detection, pair: null, backend: r.backend }))), position),
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
        onRow: opens ? (row, shown, position) => openViewer(listOf(shown.map((r) => ({ image: imageByName.get(r.image), id: r.detection, pair: null }))), position) : null });
      views.push(() => table.setRows(rows.filter((r) => matchImage(r.image) && (!("label" in r) || matchLabel(r.label)))));
    }
  }

  // ---------------------------------------------------------------- the image view
  // What it steps through: {size, at(i) -> {image, id (null: the whole image), pair, backend}}.
  const listOf = (items) => ({ size: items.length, at: (i) => items[i] });
  const viewer = { list: listOf([]), pos: 0, built: null, pushed: false, preset: null, token: 0 };
  const layerState = { photo: true, backends: BACKENDS.map(() => true), diff: false, gt: true, boxes: true, zoom: true };

  function openViewer(list, pos, fromHistory) {
    if (!list.size) return;
    viewer.list = list;
    viewer.pos = Math.max(0, Math.min(list.size - 1, pos || 0));
    const item = list.at(viewer.pos);
    if (item.image === undefined || item.image === null || !(item.image >= 0 && item.image < NI)) return;
    if (!fromHistory) {
      history.pushState({ segkit: true }, "", `#view=${hashOf(item)}`);
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
    viewer.token++;
    if (viewer.pushed) { viewer.pushed = false; history.back(); }
    else if (location.hash.startsWith("#view=")) history.replaceState(null, "", location.pathname + location.search);
  }

  const hashOf = (it) => (it.id === null || it.id === undefined ? `${it.image}`
    : `${it.image}.${it.id}${it.pair ? "." + PAIRS.findIndex((p) => p.name === it.pair) : ""}`);
  function fromHash() {
    const m = /^#view=(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(location.hash);
    if (!m) { if (!$("viewer").hidden) { $("viewer").hidden = true; document.body.style.overflow = ""; } viewer.pushed = false; return; }
    const item = { image: Number(m[1]), id: m[2] !== undefined ? Number(m[2]) : null,
      pair: m[3] !== undefined && PAIRS[Number(m[3])] ? PAIRS[Number(m[3])].name : null };
    if (!$("viewer").hidden && hashOf(viewer.list.at(viewer.pos)) === hashOf(item)) return;
    openViewer(listOf([item]), 0, true);
  }

  function step(delta) {
    const n = viewer.list.size;
    if (n < 2) return;
    viewer.pos = (viewer.pos + delta + n) % n;
    history.replaceState(history.state, "", `#view=${hashOf(viewer.list.at(viewer.pos))}`);
    renderViewer();
  }

  async function renderViewer() {
    const token = ++viewer.token;
    const item = viewer.list.at(viewer.pos);
    const status = $("stage-status");
    $("viewer").dataset.state = "loading";
    const n = imageChunk(item.image);
    let masks = null, problem = null;
    if (!chunks[n].loaded) { status.hidden = false; status.textContent = "loading…"; }
    try {
      await loadRows(n);
    } catch (error) {
      problem = `${error.message}: copy the whole folder (report.html with html/) to share the page`;
    }
    try {
      masks = (await loadMasks(n)).get(item.image) || null;
    } catch (error) {
      problem = problem || `${error.message}: the masks are not shown`;
    }
    if (token !== viewer.token) return; // another item was asked for meanwhile
    status.hidden = true;
    const info = IMG[item.image];
    if (!info) {
      $("viewer-title").replaceChildren(bdi(IMAGES.name[item.image]));
      $("viewer-note").hidden = false;
      $("viewer-note").textContent = problem || "this image's data is missing";
      $("canvas").replaceChildren();
      viewer.built = null;
      $("viewer").dataset.state = "ready";
      return;
    }
    const g = item.id === null || item.id === undefined ? -1 : detAt(item.image, item.id);
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
    if (!viewer.built || viewer.built.index !== item.image) buildImage(item.image, info, masks);
    const name = IMAGES.name[item.image];
    $("viewer-title").replaceChildren(...(g >= 0 ? [bdi(name), ` · detection ${S.id[g]} · `, bdi(LABELS[S.label[g]])] : [bdi(name)]));
    $("viewer-pos").textContent = viewer.list.size > 1 ? `${viewer.pos + 1} / ${viewer.list.size}` : "";
    $("viewer-prev").disabled = $("viewer-next").disabled = viewer.list.size < 2;
    const notes = [problem, !info.preview ? "this image's record has no preview (made with --no-html, or by an older segkit): run `segkit compare` on the folder to draw its masks" : null,
      info.preview && !info.preview.file ? "the original image was not at hand when its preview was made: the masks are drawn on grey" : null,
      item.id !== null && item.id !== undefined && g < 0 ? `detection ${item.id} is not in this image's record` : null].filter(Boolean);
    $("viewer-note").hidden = !notes.length;
    $("viewer-note").textContent = notes.join("; ");
    drawBoxes(item.image, g);
    renderLayers();
    renderNumbers(item.image, g, item);
    renderOthers(item.image, g);
    applyLayers();
    $("viewer").dataset.state = "ready";
  }

  function buildImage(index, info, masks) {
    // The picture stack of one image: the preview, one overlay per backend, the disagreement, the ground truth, the boxes.
    const preview = info.preview;
    const scale = preview ? preview.width / info.width : Math.min(1, 480 / Math.max(info.width, info.height));
    const w = preview ? preview.width : Math.max(1, Math.round(info.width * scale));
    const h = preview ? preview.height : Math.max(1, Math.round(info.height * scale));
    const canvas = $("canvas");
    canvas.replaceChildren();
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    const layers = { photo: null, backends: [], diff: null, gt: null };
    if (preview && preview.file) {
      layers.photo = el("img", { src: fileUrl(preview.file), alt: IMAGES.name[index], draggable: "false", "data-layer": "photo" });
      canvas.append(layers.photo);
    }
    const byBackend = masks ? masks.masks : {};
    const ids = [];
    for (let g = info.first; g < info.first + info.count; g++) ids.push(g);
    BACKENDS.forEach((name, k) => {
      const own = byBackend[name];
      const layer = own ? layerCanvas(paintMasks(w, h, Object.values(own), D.backends[k].color), `backend-${k}`) : null;
      layers.backends.push(layer);
      if (layer) canvas.append(layer);
    });
    const answered = BACKENDS.map((name, k) => k).filter((k) => byBackend[BACKENDS[k]]);
    const compared = NB === 2 ? (answered.length === 2 ? answered : []) : answered;
    if (compared.length >= 2) {
      // the detections every compared backend answered (an empty mask is an answer, kept out of the masks)
      const shared = ids.filter((g) => compared.every((k) => !Number.isNaN(S.area[g * NB + k])));
      const perDetection = shared.map((g) => compared.map((k) => byBackend[BACKENDS[k]][String(S.id[g])] || null));
      layers.diff = layerCanvas(paintDisagreement(w, h, perDetection, compared.length), "diff");
      canvas.append(layers.diff);
    }
    if (masks && masks.gt) {
      layers.gt = layerCanvas(paintMasks(w, h, masks.gt, C.gt), "gt");
      canvas.append(layers.gt);
    }
    const svg = svgEl("svg", { viewBox: `0 0 ${info.width} ${info.height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    canvas.append(svg);
    viewer.built = { index, w, h, width: info.width, height: info.height, layers, svg };
  }

  function drawBoxes(image, focus) {
    const { svg, width, height } = viewer.built;
    const info = IMG[image];
    svg.replaceChildren();
    if (focus >= 0) {
      const [x1, y1, x2, y2] = boxOf(focus);
      svg.append(svgEl("path", { class: "dim", d: `M0 0H${width}V${height}H0Z M${x1} ${y1}V${y2}H${x2}V${y1}Z` }));
    }
    for (let g = info.first; g < info.first + info.count; g++) {
      if (g === focus) continue;
      const [a, b, c, d] = boxOf(g);
      svg.append(svgEl("rect", { class: "box", x: a, y: b, width: c - a, height: d - b }));
    }
    if (focus >= 0) {
      const [x1, y1, x2, y2] = boxOf(focus);
      svg.append(svgEl("rect", { class: "focus", x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
    }
    viewer.built.focus = focus;
  }

  function renderLayers() {
    const { layers } = viewer.built;
    const host = $("layers");
    const box = (key, label, checked, onchange, swatch, shortcut, disabled) => el("label", null,
      el("input", { type: "checkbox", checked, disabled, "data-layer": key, onchange }),
      swatch ? el("span", { class: "swatch", vars: { "--c": swatch } }) : null, label, shortcut ? el("kbd", { text: shortcut }) : null);
    const rows = [box("photo", "original", layerState.photo, (e) => { layerState.photo = e.target.checked; applyLayers(); }, null, "o", !layers.photo)];
    BACKENDS.forEach((name, k) => rows.push(box(`backend-${k}`, el("span", null, bdi(name), " masks"), layerState.backends[k],
      (e) => { layerState.backends[k] = e.target.checked; applyLayers(); }, D.backends[k].color, k < 9 ? String(k + 1) : null, !layers.backends[k])));
    if (BACKENDS.length >= 2) {
      const label = BACKENDS.length === 2 ? el("span", null, "disagreement: red only ", bdi(BACKENDS[0]), ", blue only ", bdi(BACKENDS[1]))
        : "disagreement (bright: backends split)";
      rows.push(box("diff", label, layerState.diff, (e) => { layerState.diff = e.target.checked; applyLayers(); }, null, "d", !layers.diff));
    }
    if (E) rows.push(box("gt", "ground truth (white)", layerState.gt, (e) => { layerState.gt = e.target.checked; applyLayers(); }, "#ffffff", "g", !layers.gt));
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
    const k = built.w / built.width; // preview pixels per original pixel
    let cx = built.w / 2, cy = built.h / 2, rw = built.w, rh = built.h, cap = 4;
    if (layerState.zoom && built.focus >= 0) {
      const [x1, y1, x2, y2] = boxOf(built.focus).map((v) => v * k);
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

  function renderNumbers(image, g, item) {
    const info = IMG[image];
    const th = (text) => el("th", { scope: "row", text });
    const row = (k, v) => el("tr", null, th(k), el("td", { class: "text", dir: "auto", text: v }));
    const parts = [];
    if (g < 0) {
      const rows = [row("image", IMAGES.name[image]), row("size (px)", `${info.width} × ${info.height}`), row("detections", String(info.count))];
      for (const [backend, why] of Object.entries(info.failed || {})) rows.push(row(`${backend} failed`, why));
      parts.push(el("h3", { text: "This image" }), el("table", null, el("tbody", null, ...rows)));
    } else {
      const gt = gtOf(g);
      const rows = [row("image", IMAGES.name[image]), row("detection", String(S.id[g])), row("label", LABELS[S.label[g]]),
        row("confidence", fmt.num(numOr(S.conf[g]))), row("box (px)", boxOf(g).map((v) => fmt.num(v, 1)).join(", "))];
      if (gt) {
        rows.push(row("ground truth", gt.status === "matched" ? `matched: id ${fmt.text(gt.gt_id)}${gt.category ? ", " + gt.category : ""}` : fmt.text(gt.status)));
        if (isNum(gt.box_iou)) rows.push(row("box IoU vs GT", fmt.num(gt.box_iou)));
      }
      const hasGt = gt && gt.iou.some(isNum);
      const lowCell = (v) => el("td", { class: "num" + (isNum(v) && v < THRESHOLD ? " low" : ""), text: fmt.num(v), title: isNum(v) ? String(v) : null });
      const perBackend = el("table", { "data-role": "backends" },
        el("thead", null, el("tr", null, el("th", { text: "backend" }), el("th", { class: "num", text: "area", title: "mask area in pixels" }),
          el("th", { class: "num", text: "score" }),
          hasGt ? el("th", { class: "num", text: "GT IoU", title: "mask IoU against the matched ground truth" }) : null,
          hasGt ? el("th", { class: "num", text: "bound.", title: "boundary IoU against the matched ground truth" }) : null)),
        el("tbody", null, ...BACKENDS.map((name, k) => el("tr", null,
          el("td", null, el("span", { class: "swatch", vars: { "--c": D.backends[k].color } }), bdi(name)),
          el("td", { class: "num", text: fmt.int(areaOf(g, k)) }), el("td", { class: "num", text: fmt.num(scoreOf(g, k)) }),
          hasGt ? lowCell(gt.iou[k]) : null, hasGt ? lowCell(gt.boundary_iou[k]) : null))));
      parts.push(el("h3", { text: "This detection" }), el("table", null, el("tbody", null, ...rows)), el("h3", { text: "Per backend" }), perBackend);
      if (NP) {
        const perPair = el("table", { "data-role": "pairs" },
          el("thead", null, el("tr", null, el("th", { text: "pair" }), el("th", { class: "num", text: "IoU" }))),
          el("tbody", null, ...PAIRS.map((p, k) => el("tr", null,
            el("td", null, bdi(p.name), p.name === item.pair ? " ◂" : ""), lowCell(iouOf(g, k))))));
        parts.push(el("h3", { text: "Pair IoU" }), perPair);
      }
    }
    if (info.panel) parts.push(el("p", null, el("a", { href: fileUrl(info.panel), target: "_blank", rel: "noopener noreferrer", text: "open the panel (JPEG)" })));
    $("viewer-numbers").replaceChildren(...parts);
  }

  function renderOthers(image, focus) {
    const info = IMG[image];
    if (info.count < (focus >= 0 ? 2 : 1)) { $("viewer-others").replaceChildren(); return; }
    const same = [];
    for (let g = info.first; g < info.first + info.count; g++) same.push(g);
    const items = same.map((g) => ({ image, id: S.id[g], pair: null }));
    $("viewer-others").replaceChildren(el("h3", { text: "Detections in this image" }), el("div", { class: "chips" },
      ...same.map((g, i) => el("button", { type: "button", "aria-current": g === focus ? "true" : null, onclick: () => openViewer(listOf(items), i, true) },
        `${S.id[g]} `, bdi(LABELS[S.label[g]])))));
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
  const refreshDetections = detectionsSection();
  imagesSection();
  labelsSection();
  gtSection();
  header();
  setUpFilters();
  setUpViewer();
  applyFilters();
  if (location.hash.startsWith("#view=")) fromHash();
  document.documentElement.dataset.ready = "true";
  setTimeout(() => loadEverything(refreshDetections), 0); // after the first paint
})();
