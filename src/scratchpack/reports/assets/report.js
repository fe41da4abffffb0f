// The page of `scratchpack audit --format html` and `compare --format html`.
//
// Why no charting library: the report must be one self-contained, small file that opens
// offline (no CDN, nothing fetched), and a squarified treemap (Bruls, Huizing and van Wijk,
// "Squarified Treemaps", 2000) is a few dozen lines. Everything from the image (file names
// included, which are hostile input) reaches the page through textContent only, never as markup.
"use strict";
(function () {
  const OVERWRITTEN = 1, REMOVED = 2, CACHE = 4, GROUP = 8, FINDING = 16, OLDER = 32;
  const MAX_BOXES = 3000; // elements drawn per view: deeper levels appear when zoomed in
  const MAX_DEPTH = 4;
  const data = JSON.parse(document.getElementById("data").textContent);
  const main = document.getElementById("main");
  const tip = document.getElementById("tip");
  // the view is kept in the address (#image=1&zoom=/usr/lib&layer=2&colour=layer), so that a
  // link or a reload shows the same thing
  const state = new URLSearchParams(location.hash.slice(1));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function human(bytes) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let value = bytes, unit = 0;
    while (Math.abs(value) >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function cut(text, limit) {
    text = (text || "").replace(/^\/bin\/sh -c (#\(nop\)\s*)?/, "");
    return text.length > limit ? "\u2026" + text.slice(text.length - limit + 1) : text;
  }

  // -- the tree: arrays from the JSON (see reports/html.py) into linked objects ---------------
  function build(raw, parent) {
    if (Array.isArray(raw[1])) {
      const dir = { name: raw[0], parent, dir: true, kids: [], findings: raw[2] || [] };
      for (const child of raw[1]) dir.kids.push(build(child, dir));
      return dir;
    }
    return { name: raw[0], parent, dir: false, size: raw[1], layer: raw[2], flags: raw[3],
             hidden: raw[4] || 0, findings: raw[5] || [], count: raw[6] || 0 };
  }

  function label(node) {
    if (node.flags & OLDER) return `older ${node.name}`;
    if (node.name) return node.name;
    if (node.flags & GROUP) return `${node.count} smaller files`;
    if (node.flags & REMOVED) return "(removed later)";
    return "/";
  }

  function pathOf(node) {
    const parts = [];
    for (let n = node; n && n.parent; n = n.parent) parts.unshift(n.name || label(n));
    return "/" + parts.join("/");
  }

  // sizes and sums for one layer filter (0: all layers), post-order
  function measure(node, layer) {
    if (!node.dir) {
      node.s = layer === 0 || node.layer === layer ? node.size : 0;
      node.w = node.flags & (REMOVED | OLDER) ? node.s : 0;
      node.fc = node.s || node.findings.length ? node.findings.length : 0;
      return;
    }
    node.s = 0; node.w = 0; node.fc = node.findings.length; node.files = 0;
    for (const kid of node.kids) {
      measure(kid, layer);
      node.s += kid.s; node.w += kid.w; node.fc += kid.fc;
      node.files += kid.dir ? kid.files : kid.s ? (kid.count || 1) : 0;
    }
  }

  // -- squarified layout: rows along the shorter side, each row kept while its worst aspect
  // ratio improves ------------------------------------------------------------------------------
  function squarify(items, x, y, w, h) {
    const out = [];
    let total = items.reduce((sum, item) => sum + item.s, 0);
    let i = 0;
    while (i < items.length && w > 0.5 && h > 0.5 && total > 0) {
      const side = Math.min(w, h);
      const scale = (w * h) / total;
      const row = [];
      let rowArea = 0, worst = Infinity;
      while (i < items.length) {
        const area = items[i].s * scale;
        const sum = rowArea + area;
        const largest = row.length ? row[0].area : area;
        const ratio = Math.max((side * side * largest) / (sum * sum), (sum * sum) / (side * side * area));
        if (row.length && ratio > worst) break;
        row.push({ node: items[i], area });
        rowArea = sum; worst = ratio; i++;
      }
      const thick = rowArea / side;
      let offset = 0;
      for (const item of row) {
        const length = item.area / thick;
        if (w >= h) out.push({ node: item.node, x, y: y + offset, w: thick, h: length });
        else out.push({ node: item.node, x: x + offset, y, w: length, h: thick });
        offset += length;
      }
      if (w >= h) { x += thick; w -= thick; } else { y += thick; h -= thick; }
      total -= rowArea / scale;
    }
    return out;
  }

  // muted greens, blues and sands: the flag colours (purple, red, orange, yellow) stand out
  const PALETTE = ["#9fc5c0", "#a9c4e0", "#b8d0a4", "#d6c9a8", "#b3bccb", "#a6d4c4", "#c2d6e6", "#cfd7a3"];

  function tint(text) {
    let hash = 0;
    for (let k = 0; k < text.length; k++) hash = (hash * 31 + text.charCodeAt(k)) | 0;
    return PALETTE[Math.abs(hash) % PALETTE.length];
  }

  function layerColour(layer) {
    return layer ? `hsl(${(layer * 137.5) % 360} 60% 66%)` : "#9aa3ad";
  }

  const KIND_COLOURS = [
    [FINDING, "#9b3fd1", "named by a finding"],
    [REMOVED, "#e0665f", "removed or replaced by a later layer (wasted)"],
    [OLDER, "#f0a23a", "older copies that a later layer overwrote (wasted)"],
    [OVERWRITTEN, "#f6c27a", "overwritten: its older copies are wasted"],
    [CACHE, "#e9d54f", "cache or temporary files"],
    [GROUP, "#c3c9cf", "smaller files, summed"],
  ];

  function colour(node, mode, top) {
    if (mode === "layer") return layerColour(node.layer);
    for (const [flag, value] of KIND_COLOURS) if (node.flags & flag) return value;
    return tint(top);
  }

  // -- one image's treemap, with zoom, layer filter and colour mode ------------------------------
  function treemap(image, section, index) {
    const root = build(image.tree, null);
    const layers = image.layers;
    let current = root, layer = 0, mode = "kind";
    const boxes = [];

    const crumbs = el("span", { class: "crumbs" });
    const colourBy = el("select", { "aria-label": "colour by" },
      el("option", { value: "kind" }, "colour: waste, caches, findings"),
      el("option", { value: "layer" }, "colour: layer"));
    const layerPick = el("select", { "aria-label": "layer" }, el("option", { value: "0" }, "all layers"));
    for (const item of layers) {
      layerPick.append(el("option", { value: String(item.index) },
        `layer ${item.index}: ${human(item.uncompressed_size)} ${cut(item.created_by, 40)}`));
    }
    const up = el("button", { type: "button" }, "\u2191 up");
    const map = el("div", { class: "map", role: "img", "aria-label": "treemap of the image's files" });
    const legend = el("div", { class: "legend" });
    const detail = el("div", { id: "detail", hidden: "" });
    section.append(el("div", { class: "controls" }, up, crumbs, colourBy, layerPick), map, legend, detail);

    function drawLegend() {
      legend.replaceChildren();
      if (mode === "layer") {
        for (const item of layers) {
          legend.append(el("span", { style: `--c: ${layerColour(item.index)}` },
            `layer ${item.index} (${human(item.uncompressed_size)})`));
        }
        legend.append(el("span", { style: "--c: #9aa3ad" }, "removed content (no layer)"));
      } else {
        legend.append(el("span", { style: `--c: ${PALETTE[1]}` }, "files (tint: directory)"));
        for (const [, value, text] of KIND_COLOURS) legend.append(el("span", { style: `--c: ${value}` }, text));
      }
      legend.append(el("span", { class: "muted", style: "--c: transparent" },
        "click a directory to zoom in; \u2191, Escape or right-click to go back"));
    }

    function drawCrumbs() {
      crumbs.replaceChildren();
      const chain = [];
      for (let n = current; n; n = n.parent) chain.unshift(n);
      chain.forEach((node, k) => {
        const button = el("button", { type: "button" }, k === 0 ? "/" : label(node));
        button.addEventListener("click", () => zoom(node));
        crumbs.append(button, k < chain.length - 1 && k > 0 ? "/" : "");
      });
      crumbs.append(` \u2014 ${human(current.s)}`);
    }

    function place(node, rect, depth, top) {
      if (boxes.length >= MAX_BOXES) return;
      const box = el("div", { class: "n " + (node.dir ? "d" : "f") });
      box.style.left = rect.x + "px"; box.style.top = rect.y + "px";
      box.style.width = Math.max(rect.w, 1) + "px"; box.style.height = Math.max(rect.h, 1) + "px";
      box.dataset.i = String(boxes.length);
      boxes.push(node);
      if (!node.dir) {
        box.style.backgroundColor = colour(node, mode, top);
        if (node.flags & (REMOVED | OLDER)) box.classList.add("removed");
      }
      if (node.findings.length) box.classList.add("finding");
      if (rect.w > 36 && rect.h > 13) box.textContent = label(node);
      map.append(box);
      if (!node.dir || depth >= MAX_DEPTH || rect.w < 24 || rect.h < 28) {
        if (node.dir) box.style.backgroundColor = mode === "layer" ? "#c9ced4" : tint(top);
        return;
      }
      layout(node, rect.x + 2, rect.y + 15, rect.w - 4, rect.h - 17, depth + 1, top);
    }

    function layout(dir, x, y, w, h, depth, top) {
      const kids = dir.kids.filter((kid) => kid.s > 0).sort((a, b) => b.s - a.s);
      for (const rect of squarify(kids, x, y, w, h)) {
        if (rect.w * rect.h < 4) continue;
        // hue by the first two levels of the view (usr/lib and usr/share apart, not all /usr)
        place(rect.node, rect, depth, depth <= 1 ? `${top}/${label(rect.node)}` : top);
      }
    }

    function render() {
      measure(root, layer);
      map.replaceChildren();
      boxes.length = 0;
      const width = map.clientWidth || 900, height = map.clientHeight || 540;
      if (current.s === 0) {
        map.append(el("p", { class: "muted", style: "padding: 10px" }, "no file bytes here in this view"));
      } else {
        layout(current, 0, 0, width, height, 0, "");
      }
      drawCrumbs();
      drawLegend();
      up.disabled = !current.parent;
      map.dataset.view = pathOf(current);
      map.dataset.layer = String(layer);
      map.dataset.colour = mode;
      save();
    }

    function save() {
      const params = new URLSearchParams();
      if (index) params.set("image", String(index));
      if (current !== root) params.set("zoom", pathOf(current));
      if (layer) params.set("layer", String(layer));
      if (mode !== "kind") params.set("colour", mode);
      try {
        history.replaceState(null, "", "#" + params.toString());
      } catch (error) {
        // a viewer that forbids it (some file: URLs) only loses the shareable address
      }
    }

    function find(path) {
      let node = root;
      for (const part of path.split("/").filter(Boolean)) {
        const next = node.kids.find((kid) => kid.dir && label(kid) === part);
        if (!next) break;
        node = next;
      }
      return node;
    }

    if (Number(state.get("image") || 0) === index) {
      if (state.get("colour") === "layer") mode = "layer";
      const wanted = Number(state.get("layer"));
      if (layers.some((item) => item.index === wanted)) layer = wanted;
      if (state.get("zoom")) current = find(state.get("zoom"));
      colourBy.value = mode;
      layerPick.value = String(layer);
    }

    function zoom(node) {
      current = node;
      render();
    }

    function describe(node) {
      const lines = [el("div", { class: "p" }, pathOf(node))];
      if (node.dir) {
        lines.push(el("div", {}, `${human(node.s)} in ${node.files} files`));
      } else {
        lines.push(el("div", {}, `${human(node.size)}` + (node.count ? ` in ${node.count} files` : "")));
        const made = layers[node.layer - 1];
        if (made) lines.push(el("div", {}, `layer ${node.layer}: ${cut(made.created_by, 90)}`));
        if (node.flags & REMOVED) lines.push(el("div", {}, "removed or replaced by a later layer: these bytes are still shipped"));
        if (node.flags & OLDER) lines.push(el("div", {}, "copies in lower layers that a later layer overwrote: still shipped"));
        if (node.flags & OVERWRITTEN) lines.push(el("div", {}, `overwritten: ${human(node.hidden)} of older copies in lower layers`));
        if (node.flags & CACHE) lines.push(el("div", {}, "a cache or temporary file: usually not needed at run time"));
      }
      if (node.dir && node.w) lines.push(el("div", {}, `wasted below: ${human(node.w)}`));
      const own = node.findings.map((n) => image.findings[n]).filter(Boolean);
      for (const finding of own) lines.push(el("div", {}, `${finding.code} ${finding.severity}: ${finding.message}`));
      if (node.dir && node.fc > own.length) lines.push(el("div", {}, `${node.fc - own.length} more findings below`));
      return lines;
    }

    map.addEventListener("mousemove", (event) => {
      const box = event.target.closest(".n");
      if (!box) { tip.hidden = true; return; }
      tip.replaceChildren(...describe(boxes[Number(box.dataset.i)]));
      tip.hidden = false;
      const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 4);
      const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 4);
      tip.style.left = Math.max(x, 0) + "px"; tip.style.top = Math.max(y, 0) + "px";
    });
    map.addEventListener("mouseleave", () => { tip.hidden = true; });
    map.addEventListener("click", (event) => {
      const box = event.target.closest(".n");
      if (!box) return;
      const node = boxes[Number(box.dataset.i)];
      if (node.dir) { zoom(node); return; }
      detail.replaceChildren(...describe(node));
      detail.hidden = false;
    });
    map.addEventListener("contextmenu", (event) => {
      if (current.parent) { event.preventDefault(); zoom(current.parent); }
    });
    up.addEventListener("click", () => { if (current.parent) zoom(current.parent); });
    document.addEventListener("keydown", (event) => {
      if ((event.key === "Escape" || event.key === "Backspace") && current.parent && section.isConnected
          && !section.hidden) zoom(current.parent);
    });
    colourBy.addEventListener("change", () => { mode = colourBy.value; render(); });
    layerPick.addEventListener("change", () => { layer = Number(layerPick.value); render(); });
    let pending = 0;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => { if (!section.hidden) render(); }, 150);
    });
    return { render, root };
  }

  // -- tables ---------------------------------------------------------------------------------
  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map(([text, num]) => el("th", num ? { class: "num" } : {}, text)));
    const body = rows.map((cells) => el("tr", {}, ...cells.map((cell, k) =>
      cell instanceof Node && cell.tagName === "TD" ? cell : el("td", headers[k][1] ? { class: "num" } : {}, cell))));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
  }

  function layerTable(image) {
    return table(
      [["#", 1], ["digest"], ["compressed", 1], ["uncompressed", 1], ["+files", 1], ["~files", 1],
       ["-files", 1], ["removes (wasted)", 1], ["created by"]],
      image.layers.map((item) => [
        item.index, el("span", { class: "mono", title: item.digest }, item.digest.slice(0, 19) + "\u2026"),
        human(item.compressed_size), human(item.uncompressed_size), item.added, item.changed, item.removed,
        human(item.removed_bytes), el("span", { class: "mono", title: item.created_by }, cut(item.created_by, 120)),
      ]));
  }

  function findingTable(image) {
    if (!image.findings.length) return el("p", { class: "muted" }, "no findings");
    return table([["severity"], ["code"], ["finding"], ["path"]], image.findings.map((finding) => [
      el("span", { class: "sev " + finding.severity }, finding.severity),
      el("span", { class: "mono", style: "white-space: nowrap" }, finding.code),
      el("details", {}, el("summary", {}, el("b", {}, finding.title), ": ", finding.message),
        el("p", {}, finding.why), el("p", {}, el("b", {}, "Fix: "), finding.fix)),
      el("span", { class: "mono path" }, finding.path || ""),
    ]));
  }

  function wasteTable(image) {
    if (!image.waste.length) return el("p", { class: "muted" }, "no path is written by more than one layer");
    return table([["copies", 1], ["wasted", 1], ["path"]],
      image.waste.map((item) => [item.count, human(item.wasted_bytes), el("span", { class: "mono" }, item.path)]));
  }

  function facts(image) {
    const eff = image.efficiency;
    const pairs = [
      ["manifest digest", el("span", { class: "mono" }, image.digest)],
      ["image id", el("span", { class: "mono" }, image.image_id)],
      ["platform", image.platform],
      ["size", `${human(image.size.compressed)} compressed, ${human(image.size.uncompressed)} uncompressed, ${image.size.files} files`],
      ["efficiency (dive)", `${(eff.score * 100).toFixed(2)}%, wasted ${human(eff.wasted_bytes)} (${eff.user_wasted_percent.toFixed(1)}% of the non-base layers)`],
      ["user", image.user],
      ["findings", Object.entries(image.summary).map(([k, v]) => `${v} ${k}`).join(", ")],
    ];
    return el("div", { class: "facts" }, ...pairs.map(([key, value]) => el("div", {}, el("b", {}, key), value)));
  }

  function imageSection(image, index) {
    const section = el("section", {});
    section.append(facts(image));
    for (const line of image.thresholds_crossed) section.append(el("p", { class: "notice" }, `threshold crossed: ${line}`));
    section.append(el("h2", {}, "Where the bytes go"));
    if (image.grouped_files) {
      section.append(el("p", { class: "notice" },
        `${image.grouped_files} of ${image.size.files} files are too small to draw one by one in a page of bounded size: ` +
        "they are summed into one \u201csmaller files\u201d box per directory. The JSON report lists every number."));
    }
    const map = treemap(image, section, index);
    section.append(el("h2", {}, "Layers"), layerTable(image));
    section.append(el("h2", {}, "Findings"), findingTable(image));
    section.append(el("h2", {}, "Wasted space (paths written by more than one layer)"), wasteTable(image));
    return { section, map };
  }

  // -- compare: size bars and the largest directories side by side ----------------------------
  function sizeBars(images, columns) {
    const grid = el("div", { class: "bars" });
    const largest = Math.max(1, ...images.map((image) => image.size.uncompressed),
      ...columns.map((column) => column.compressed));
    images.forEach((image, k) => {
      const column = columns[k];
      const stored = image.layers.reduce((sum, item) => sum + item.compressed_size, 0) || 1;
      const kinds = [
        ["compressed" + (column.compressed_estimated ? " (estimated, gzip -6)" : ""), column.compressed,
          (item) => (item.compressed_size / stored) * column.compressed],
        ["uncompressed", image.size.uncompressed, (item) => item.uncompressed_size],
      ];
      for (const [what, total, part] of kinds) {
        const bar = el("div", { class: "bar" });
        for (const item of image.layers) {
          const width = (part(item) / largest) * 100;
          bar.append(el("span", { style: `width: ${width}%; background: ${layerColour(item.index)}`,
            title: `layer ${item.index}: ${human(part(item))} ${cut(item.created_by, 80)}` }));
        }
        grid.append(el("div", { class: "barlabel" }, el("b", {}, image.image), ` ${what}: ${human(total)}`), bar);
      }
    });
    return grid;
  }

  function difference(bytes) {
    return (bytes > 0 ? "+" : bytes < 0 ? "\u2212" : "\u00b1") + human(Math.abs(bytes));
  }

  function topDirectories(images, roots) {
    const sizes = new Map();
    roots.forEach((root, k) => {
      for (const top of root.kids) {
        const entries = top.dir && top.kids.length ? top.kids : [top];
        for (const node of entries) {
          const key = pathOf(node);
          if (!sizes.has(key)) sizes.set(key, images.map(() => 0));
          sizes.get(key)[k] += node.s;
        }
      }
    });
    const rows = [...sizes.entries()].sort((a, b) => Math.max(...b[1]) - Math.max(...a[1])).slice(0, 25);
    const headers = [["directory"], ...images.map((image) => [image.image, 1])];
    if (images.length === 2) headers.push(["second \u2212 first", 1]);
    return table(headers, rows.map(([key, values]) => [el("span", { class: "mono" }, key),
      ...values.map(human), ...(images.length === 2 ? [difference(values[1] - values[0])] : [])]));
  }

  // -- the page -------------------------------------------------------------------------------
  const title = document.getElementById("title"), subtitle = document.getElementById("subtitle");
  subtitle.textContent = `scratchpack ${data.version}`;
  if (data.kind === "audit") {
    const image = data.images[0];
    title.textContent = `audit: ${image.image}`;
    const { section, map } = imageSection(image, 0);
    main.append(section);
    map.render();
  } else {
    title.textContent = `compare: ${data.images.map((image) => image.image).join(" vs ")}`;
    main.append(el("h2", {}, "Sizes (stacked by layer)"), sizeBars(data.images, data.columns));
    const parts = data.images.map(imageSection);
    parts.forEach((part) => measure(part.map.root, 0));
    main.append(el("h2", {}, "Largest directories"), topDirectories(data.images, parts.map((part) => part.map.root)));
    const pick = el("select", { "aria-label": "image" },
      ...data.images.map((image, k) => el("option", { value: String(k) }, image.image)));
    main.append(el("h2", {}, "Each image"), el("div", { class: "controls" }, "image: ", pick));
    const first = Math.min(Math.max(Number(state.get("image")) || 0, 0), parts.length - 1);
    pick.value = String(first);
    parts.forEach((part, k) => { part.section.hidden = k !== first; main.append(part.section); });
    pick.addEventListener("change", () => {
      parts.forEach((part, k) => { part.section.hidden = k !== Number(pick.value); });
      parts[Number(pick.value)].map.render();
    });
    parts[first].map.render();
  }
  document.body.dataset.rendered = String(document.querySelectorAll(".map .n").length);
})();
