// gcnserve's viewer: classifies an image through POST /v1/classify and
// draws what the model looked at. No framework, nothing fetched from
// elsewhere: the page, this file and viewer.css come from the server.
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  // Feature levels; the first three (model1's and relations' levels) in
  // hues that relations' objects (red, blue, green, yellow, cyan, white,
  // grey) do not use.
  const LEVEL_COLOURS = ['#ff7a1a', '#b36bff', '#ff4fa3', '#27c4f5', '#3ddc84'];
  const RING = 0.35;  // a point's white ring, in hundredths of the image's longer side
  const $ = (id) => document.getElementById(id);
  const state = { models: [], defaultModel: '', blob: null, url: null, answer: null, seq: 0 };

  function svg(tag, attributes, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function levelColour(level) {
    return LEVEL_COLOURS[level % LEVEL_COLOURS.length];
  }

  function say(text, isError) {
    $('status').textContent = text;
    $('status').classList.toggle('error', !!isError);
  }

  // --- models ---------------------------------------------------------------
  async function loadModels() {
    const response = await fetch('/v1/models');
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    state.models = (body.models || []).filter((m) => m.state === 'MODEL_STATE_READY');
    state.defaultModel = body.defaultModel || '';
    const names = [...new Set(state.models.map((m) => m.name))].sort();
    $('model').replaceChildren(...names.map((name) => new Option(name, name)));
    if (names.includes(state.defaultModel)) $('model').value = state.defaultModel;
    fillVersions();
    say(names.length ? 'Choose, drop or paste an image.' : 'No model is ready.');
  }

  function fillVersions() {
    const versions = state.models
      .filter((m) => m.name === $('model').value)
      .map((m) => Number(m.version))
      .sort((a, b) => b - a);
    $('version').replaceChildren(...versions.map((v) => new Option(String(v), String(v))));
  }

  // --- classify -------------------------------------------------------------
  async function classify(blob) {
    if (!blob) return;
    const seq = ++state.seq;
    document.body.dataset.state = 'busy';
    say('Classifying…');
    const params = new URLSearchParams({
      model: $('model').value, version: $('version').value || '0',
      top_k: '5', graph: 'full', request_id: `viewer-${seq}`,
    });
    try {
      const response = await fetch(`/v1/classify?${params}`, {
        method: 'POST',
        headers: { 'Content-Type': blob.type || 'application/octet-stream' },
        body: blob,
      });
      const body = await response.json();
      if (seq !== state.seq) return;  // a newer image took over
      if (!response.ok) {
        say(`${response.status}: ${body.message}`, true);
        document.body.dataset.state = 'error';
        return;
      }
      if (state.url) URL.revokeObjectURL(state.url);
      state.blob = blob;
      state.url = URL.createObjectURL(blob);
      state.answer = body;
      render();
      say(`${body.points.length} interest points, ${body.classes.length} classes.`);
      document.body.dataset.state = 'ready';
    } catch (error) {
      say(`Request failed: ${error.message}`, true);
      document.body.dataset.state = 'error';
    }
  }

  // --- drawing --------------------------------------------------------------
  function render() {
    const a = state.answer;
    $('result').hidden = false;
    drawClasses(a);
    drawFacts(a);
    drawDrift(a);
    drawImage(a);
    drawHeatmap(a);
  }

  function drawClasses(a) {
    $('top-class').textContent = a.classes.length ? a.classes[0].label : '';
    $('classes').replaceChildren(...a.classes.map((c) => {
      const item = document.createElement('li');
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = c.label;
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${(100 * c.probability).toFixed(1)}%`;
      bar.appendChild(fill);
      const p = document.createElement('span');
      p.className = 'p';
      p.textContent = `${(100 * c.probability).toFixed(1)} %`;
      item.append(label, bar, p);
      return item;
    }));
  }

  // The drift of the version that answered, from ListModels (PSI: below
  // 0.1 no shift, 0.1 to 0.25 moderate, above 0.25 major).
  function describeDrift(d) {
    if (!d || !d.hasReference) return 'no reference in this export';
    if (!d.scored) {
      return `not scored yet: ${d.windowRequests || 0} of ${d.minRequests} answers`;
    }
    const score = Number(d.score || 0);
    const word = score < 0.1 ? 'no shift' : score <= 0.25 ? 'moderate' : 'major';
    return `${score.toFixed(3)} (${word}, over ${d.windowRequests} answers)`;
  }

  async function drawDrift(a) {
    const seq = state.seq;
    let text;
    try {
      const response = await fetch('/v1/models');
      const body = await response.json();
      const served = (body.models || []).find((m) =>
        m.name === a.model && String(m.version) === String(a.version) &&
        m.state === 'MODEL_STATE_READY');
      text = describeDrift(served && served.drift);
    } catch (error) {
      text = `unknown (${error.message})`;
    }
    if (seq !== state.seq) return;
    const dd = document.querySelector('[data-fact="drift"]');
    if (dd) dd.textContent = text;
  }

  function drawFacts(a) {
    const t = a.timing || {};
    const ms = (us) => `${(Number(us || 0) / 1000).toFixed(2)} ms`;
    const facts = [
      ['model', a.model], ['version', String(a.version)], ['digest', a.modelDigest || '—'],
      ['image', `${a.imageWidth} × ${a.imageHeight} px`],
      ['server total', ms(t.totalUs)], ['queue', ms(t.queueUs)],
      ['preprocess', ms(t.preprocessUs)], ['inference', ms(t.inferenceUs)],
      ['batch size', String(t.batchSize || 0)],
      ['drift', 'reading…'],
    ];
    $('facts').replaceChildren(...facts.flatMap(([key, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = key;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.fact = key;
      return [dt, dd];
    }));
  }

  // The weight of edge i -> j, or 0.
  function weight(a, i, j) {
    const adj = a.adjacency;
    if (!adj || !adj.size) return 0;
    return adj.weights[i * adj.size + j] || 0;
  }

  // Each point's `n` strongest edges to other points, each pair once.
  function strongestEdges(a, n) {
    const k = a.points.length;
    const seen = new Set();
    const edges = [];
    for (let i = 0; i < k; i++) {
      const others = [];
      for (let j = 0; j < k; j++) if (j !== i && weight(a, i, j) > 0) others.push(j);
      others.sort((x, y) => weight(a, i, y) - weight(a, i, x));
      for (const j of others.slice(0, n)) {
        const key = i < j ? `${i}-${j}` : `${j}-${i}`;
        if (seen.has(key)) continue;
        seen.add(key);
        edges.push([i, j, Math.max(weight(a, i, j), weight(a, j, i))]);
      }
    }
    return edges;
  }

  // The image in its own pixels (the viewBox), points and edges on top, so
  // that the browser scales all of it to the view for any image size.
  function drawImage(a) {
    const w = a.imageWidth, h = a.imageHeight;
    const overlay = $('overlay');
    overlay.replaceChildren();
    overlay.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const image = svg('image', { href: state.url, x: 0, y: 0, width: w, height: h,
      preserveAspectRatio: 'none' }, overlay);
    if (Math.max(w, h) < 256) image.setAttribute('style', 'image-rendering: pixelated');
    const unit = Math.max(w, h) / 100;
    const edges = svg('g', { class: 'edges' }, overlay);
    const points = svg('g', { class: 'points' }, overlay);
    const scores = a.points.map((p) => p.score || 0);
    const lo = Math.min(...scores), hi = Math.max(...scores);
    a.points.forEach((p, i) => {
      const s = hi > lo ? ((p.score || 0) - lo) / (hi - lo) : 1;
      const level = p.level || 0;
      const at = { cx: p.x || 0, cy: p.y || 0, r: (unit * (1 + 2.5 * s)).toFixed(3) };
      // A dark ring outside a white one: whatever the colour under a point
      // (a red or blue object, a white, yellow or cyan distractor, a black
      // background), one of the two stands out. Each point's halo comes
      // just before it, so overlapping points stay apart.
      svg('circle', { class: 'halo', ...at, 'stroke-width': (unit * RING * 3).toFixed(3) }, points);
      const circle = svg('circle', {
        class: 'point', ...at, 'stroke-width': (unit * RING).toFixed(3),
        fill: levelColour(level), 'data-index': i, 'data-level': level,
      }, points);
      svg('title', {}, circle).textContent =
        `point ${i}: (${(p.x || 0).toFixed(1)}, ${(p.y || 0).toFixed(1)}), score ${(p.score || 0).toFixed(3)}, level ${level}`;
      circle.addEventListener('mouseenter', () => light([i], null));
      circle.addEventListener('mouseleave', () => light([], null));
    });
    const k = a.points.length;
    $('edges').max = String(Math.max(0, k - 1));
    drawEdges(a, edges, unit);
  }

  // What is drawn, as drawn: a swatch per feature level present (outlined
  // as the points are) and the number of edges per point the slider sets.
  function drawLegend(a, n) {
    const levels = [...new Set(a.points.map((p) => p.level || 0))].sort((x, y) => x - y);
    const legend = $('legend');
    legend.replaceChildren('Radius: attention score. Colour: feature level');
    for (const level of levels) {
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.dataset.level = level;
      swatch.style.background = levelColour(level);
      legend.append(swatch, String(level));
    }
    if (n === 0) {
      legend.append('. No edges drawn (0 per point).');
      return;
    }
    const line = document.createElement('span');
    line.className = 'swatch line';
    const lines = document.createElement('span');
    lines.className = 'keep';  // the swatch and its word on one line
    lines.append(line, ' Lines');
    legend.append('. ', lines, `: each point's ${n} strongest edge${n === 1 ? '' : 's'}.`);
  }

  function drawEdges(a, group, unit) {
    const n = Number($('edges').value);
    $('edges-value').textContent = String(n);
    group.replaceChildren();
    const edges = strongestEdges(a, n);
    const top = Math.max(1e-9, ...edges.map((e) => e[2]));
    for (const [i, j, w] of edges) {
      const p = a.points[i], q = a.points[j];
      const width = unit * (0.25 + 0.6 * w / top);
      const opacity = (0.25 + 0.75 * w / top).toFixed(3);
      const ends = { x1: p.x || 0, y1: p.y || 0, x2: q.x || 0, y2: q.y || 0 };
      // A dark casing under the line, as the points' halo: a yellow line
      // on a yellow object still shows.
      svg('line', { class: 'casing', ...ends, 'stroke-width': (width + unit * RING * 2).toFixed(3),
        'stroke-opacity': opacity }, group);
      svg('line', {
        class: 'edge', ...ends, 'stroke-width': width.toFixed(3), 'stroke-opacity': opacity,
        'data-i': i, 'data-j': j,
      }, group);
    }
    drawLegend(a, n);
  }

  // Blue (weak) to yellow (strong), through teal and green.
  function heat(t) {
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function drawHeatmap(a) {
    const map = $('heatmap');
    map.replaceChildren();
    const k = a.adjacency && a.adjacency.size ? a.adjacency.size : 0;
    $('adjacency-panel').hidden = k === 0;
    if (!k) return;
    map.setAttribute('viewBox', `0 0 ${k} ${k}`);
    let top = 1e-9;
    for (const w of a.adjacency.weights) top = Math.max(top, w);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const cell = svg('rect', { class: 'cell', x: j, y: i, width: 1, height: 1,
          fill: heat(weight(a, i, j) / top), 'data-i': i, 'data-j': j }, map);
        svg('title', {}, cell).textContent = `${i} → ${j}: ${weight(a, i, j).toFixed(4)}`;
        cell.addEventListener('mouseenter', () => light([i, j], [i, j]));
        cell.addEventListener('mouseleave', () => light([], null));
      }
    }
    svg('rect', { class: 'band', id: 'band-row', x: 0, y: 0, width: k, height: 1, visibility: 'hidden' }, map);
    svg('rect', { class: 'band', id: 'band-col', x: 0, y: 0, width: 1, height: k, visibility: 'hidden' }, map);
  }

  // Lights `points` in the image; with one point, its row and column in the
  // heat map and its edges; with `cell` [i, j], that cell.
  function light(points, cell) {
    const lit = new Set(points.map(String));
    for (const c of document.querySelectorAll('#overlay .point')) {
      c.classList.toggle('lit', lit.has(c.dataset.index));
    }
    const one = points.length === 1 ? String(points[0]) : null;
    for (const e of document.querySelectorAll('#overlay .edge')) {
      e.classList.toggle('lit', one !== null && (e.dataset.i === one || e.dataset.j === one));
    }
    const row = $('band-row'), col = $('band-col');
    if (row && col) {
      const show = one !== null;
      row.setAttribute('visibility', show ? 'visible' : 'hidden');
      col.setAttribute('visibility', show ? 'visible' : 'hidden');
      if (show) { row.setAttribute('y', one); col.setAttribute('x', one); }
    }
    for (const c of document.querySelectorAll('#heatmap .cell.lit')) c.classList.remove('lit');
    if (cell) {
      const c = document.querySelector(`#heatmap .cell[data-i="${cell[0]}"][data-j="${cell[1]}"]`);
      if (c) c.classList.add('lit');
    }
  }

  // --- input ----------------------------------------------------------------
  function firstImage(files) {
    for (const file of files || []) if (!file.type || file.type.startsWith('image/')) return file;
    return null;
  }

  $('file').addEventListener('change', (e) => classify(firstImage(e.target.files)));
  $('model').addEventListener('change', () => { fillVersions(); classify(state.blob); });
  $('version').addEventListener('change', () => classify(state.blob));
  $('edges').addEventListener('input', () => {
    if (!state.answer) return;
    const a = state.answer;
    drawEdges(a, document.querySelector('#overlay .edges'), Math.max(a.imageWidth, a.imageHeight) / 100);
  });
  document.addEventListener('dragover', (e) => { e.preventDefault(); $('drop').classList.add('over'); });
  document.addEventListener('dragleave', () => $('drop').classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    $('drop').classList.remove('over');
    classify(firstImage(e.dataTransfer.files));
  });
  document.addEventListener('paste', (e) => {
    const items = [...(e.clipboardData ? e.clipboardData.items : [])];
    const item = items.find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (item) classify(item.getAsFile());
  });

  loadModels().catch((error) => say(`Cannot list the models: ${error.message}`, true));
})();
