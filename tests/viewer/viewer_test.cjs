// The viewer in a real browser: Debian's chromium, headless, driven by
// playwright-core. Starts gcnserve on loopback (ephemeral ports), chooses a
// sample image in the page, and checks that the page draws exactly the
// points the API returns, in the image's own pixels, with edges, the
// adjacency heat map, hover linking and the top class, for any image size
// and for dropped and pasted images too, fetching nothing from anywhere but
// the server. Before an image is chosen, nothing of the result shows. With
// --screenshot, saves the page with an image; with --empty-screenshot,
// before one.
//
// With --relations DIR (images of gcnserve_model.relations, with their
// objects.json) and --colour-repository (a repository serving `relations`,
// the bundled model/repository), a second server serves that repository and
// the page, with `relations` picked, shows each colour image in its own
// colours (read back from the page's pixels), the answer's points inside
// it, each visible over whatever it covers, and a legend true to the
// drawing; --relations-screenshot saves that page.
//
// usage: node viewer_test.cjs --server GCNSERVE --repository DIR
//          --image FILE --tools NODE_DIR [--screenshot OUT.png]
//          [--empty-screenshot EMPTY.png]
//          [--relations DIR --colour-repository DIR [--relations-screenshot OUT.png]]
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
for (const needed of ['server', 'repository', 'image', 'tools']) {
  if (!args[needed]) throw new Error(`--${needed} is required`);
}
if (args.relations && !args['colour-repository']) {
  throw new Error('--relations needs --colour-repository');
}
const { chromium } = require(path.resolve(args.tools, 'node_modules', 'playwright-core'));

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// gcnserve on 127.0.0.1 with every port picked by the kernel; resolves with
// the HTTP port from the start-up line ("..., HTTP port N, metrics off").
function startServer(repository) {
  const server = spawn(args.server, [
    '--model-repository', repository, '--grpc-address', '127.0.0.1:0',
    '--metrics-address', '', '--http-address', '127.0.0.1:0',
    '--intra-op-threads', '1', '--drain-timeout-s', '5',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start in 120 s:\n${log}`)), 120000);
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const match = log.match(/HTTP port (\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ server, port: Number(match[1]) });
      }
    });
    server.on('exit', (code) => reject(new Error(`gcnserve exited ${code}:\n${log}`)));
  });
}

// A page of `context` that may fetch from `base` (and blob: and data: URLs)
// only; what else it asks for is aborted and listed in `elsewhere`.
async function openPage(context, base) {
  const page = context.pages().find((p) => p.url() === 'about:blank') || await context.newPage();
  const elsewhere = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith('blob:') || url.startsWith('data:')) {
      return route.continue();
    }
    elsewhere.push(url);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return { page, elsewhere, errors };
}

// Reads three PNGs back in the page, all of the drawn image's box: the
// source image (w x h), the page's pixels with the marks hidden (`bare`)
// and with them (`marked`), both in CSS pixels (device scale 1). Returns,
// for the bare drawing against the source, sampled at the middle of each
// source pixel's square: the mean and largest channel error; the largest
// R - B and B - R inside each of `boxes`; and for each point ({x, y, r} in
// the drawing's pixels) the largest luminance change from bare to marked
// within r of its middle, the lightest and darkest luminance there, and
// the colour distance at its middle.
function readPixels({ source, bare, marked, w, h, boxes, points }) {
  const decode = async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }),
      { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const g = canvas.getContext('2d');
    g.drawImage(bitmap, 0, 0);
    const data = g.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const at = (x, y) => {
      const i = 4 * (Math.min(bitmap.height - 1, Math.max(0, Math.floor(y))) * bitmap.width +
                     Math.min(bitmap.width - 1, Math.max(0, Math.floor(x))));
      return [data[i], data[i + 1], data[i + 2]];
    };
    return { width: bitmap.width, height: bitmap.height, at };
  };
  const lum = ([r, g, b]) => 0.299 * r + 0.587 * g + 0.114 * b;
  return Promise.all([decode(source), decode(bare), decode(marked)]).then(([src, b, m]) => {
    const sx = b.width / w, sy = b.height / h;
    const shown = (x, y) => b.at((x + 0.5) * sx, (y + 0.5) * sy);
    let total = 0, worst = 0, spread = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = src.at(x, y), d = shown(x, y);
        for (let c = 0; c < 3; c++) {
          const e = Math.abs(s[c] - d[c]);
          total += e;
          worst = Math.max(worst, e);
        }
        spread = Math.max(spread, Math.abs(d[0] - d[2]));
      }
    }
    const inBoxes = boxes.map(([x0, y0, x1, y1]) => {
      let redness = -255, blueness = -255;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const [r, , bl] = shown(x, y);
          redness = Math.max(redness, r - bl);
          blueness = Math.max(blueness, bl - r);
        }
      }
      return { redness, blueness };
    });
    const marks = points.map((p) => {
      let contrast = 0, light = 0, dark = 255;
      for (let y = Math.floor(p.y - p.r); y <= Math.ceil(p.y + p.r); y++) {
        for (let x = Math.floor(p.x - p.r); x <= Math.ceil(p.x + p.r); x++) {
          if ((x - p.x) ** 2 + (y - p.y) ** 2 > p.r * p.r) continue;
          if (x < 0 || y < 0 || x >= b.width || y >= b.height) continue;
          const l = lum(m.at(x, y));
          contrast = Math.max(contrast, Math.abs(l - lum(b.at(x, y))));
          light = Math.max(light, l);
          dark = Math.min(dark, l);
        }
      }
      const u = m.at(p.x, p.y), v = b.at(p.x, p.y);
      const middle = Math.hypot(u[0] - v[0], u[1] - v[1], u[2] - v[2]);
      return { contrast, light, dark, middle };
    });
    return { meanError: total / (3 * w * h), worstError: worst, spread, inBoxes, marks };
  });
}

// The `relations` model's colour images in the viewer, on a second server
// over --colour-repository.
async function checkRelations(context) {
  const { server, port } = await startServer(args['colour-repository']);
  const base = `http://127.0.0.1:${port}`;
  try {
    const objects = JSON.parse(fs.readFileSync(path.join(args.relations, 'objects.json'), 'utf8'));
    const names = Object.keys(objects).sort();
    check(names.length > 0, `${names.length} relations images to show`);
    const { page, elsewhere, errors } = await openPage(context, base);
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    const offered = await page.$$eval('#model option', (o) => o.map((x) => x.value));
    check(offered.includes('relations'), `the model list offers relations (${offered.join(' ')})`);
    await page.selectOption('#model', 'relations');

    for (const [n, name] of names.entries()) {
      const file = path.join(args.relations, ...name.split('/'));
      const source = fs.readFileSync(file);
      // What the API answers for it, to hold the page to.
      const answer = await (await fetch(`${base}/v1/classify?model=relations&top_k=5&graph=full`, {
        method: 'POST', headers: { 'Content-Type': 'image/png' }, body: source,
      })).json();
      const asked = page.waitForRequest((r) => r.url().startsWith(`${base}/v1/classify?`));
      await page.mouse.move(0, 0);
      await page.setInputFiles('#file', file);
      const model = new URL((await asked).url()).searchParams.get('model');
      // busy from the choice until the answer is drawn
      await page.waitForFunction(() => document.body.dataset.state === 'ready', null,
        { timeout: 60000 });
      const what = `relations ${name}`;
      check(model === 'relations' && answer.imageWidth === 64 && answer.imageHeight === 64,
        `${what}: the page asks ${model}, which sees ${answer.imageWidth}x${answer.imageHeight}`);
      check(await page.$eval('[data-fact="model"]', (e) => e.textContent) === 'relations',
        `${what}: the page says relations answered`);
      const w = answer.imageWidth, h = answer.imageHeight;

      // The points: the answer's, at its pixels, each inside the image.
      const drawn = await page.$$eval('#overlay circle.point', (cs) => cs.map((c) => {
        const r = c.getBoundingClientRect();
        return { cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')),
          fill: c.getAttribute('fill'), level: Number(c.dataset.level),
          x: r.x + r.width / 2, y: r.y + r.height / 2, r: r.width / 2 };
      }));
      check(answer.points.length > 0 && drawn.length === answer.points.length,
        `${what}: the page draws ${drawn.length} points, the answer has ${answer.points.length}`);
      check(drawn.every((p, i) => Math.abs(p.cx - (answer.points[i].x || 0)) < 1e-3 &&
                                  Math.abs(p.cy - (answer.points[i].y || 0)) < 1e-3),
        `${what}: each point sits at the answer's x, y`);
      const rect = await page.$eval('#overlay image', (e) => e.getBoundingClientRect().toJSON());
      const outside = drawn.filter((p) => !(p.cx >= 0 && p.cx <= w && p.cy >= 0 && p.cy <= h &&
        p.x >= rect.x && p.x <= rect.x + rect.width && p.y >= rect.y && p.y <= rect.y + rect.height));
      check(outside.length === 0, `${what}: every point lies inside the image (${outside.length} outside)`);
      check(rect.width > 200 && Math.abs(rect.width - rect.height) < 1,
        `${what}: the image is drawn square and large (${rect.width}x${rect.height})`);

      // The page's pixels of the image's box, without the marks and with.
      const clip = { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
      const marks = (shown) => page.$$eval('#overlay .points, #overlay .edges', (gs, v) => {
        for (const g of gs) g.style.visibility = v;
      }, shown ? '' : 'hidden');
      await marks(false);
      const bare = await page.screenshot({ clip });
      await marks(true);
      const marked = await page.screenshot({ clip });
      if (n === 0 && args['relations-screenshot']) {
        await page.screenshot({ path: args['relations-screenshot'], fullPage: true });
        console.log(`relations screenshot: ${args['relations-screenshot']}`);
      }
      const [red, blue] = objects[name];
      const px = await page.evaluate(readPixels, {
        source: source.toString('base64'), bare: bare.toString('base64'),
        marked: marked.toString('base64'), w, h, boxes: [red, blue],
        points: drawn.map((p) => ({ x: p.x - rect.x, y: p.y - rect.y, r: p.r + 3 })),
      });
      check(px.meanError < 3 && px.worstError < 24,
        `${what}: the image is drawn in its own pixels (mean channel error ${px.meanError.toFixed(2)}, ` +
        `largest ${px.worstError})`);
      check(px.spread > 120 && px.inBoxes[0].redness > 100 && px.inBoxes[1].blueness > 100,
        `${what}: the image shows in colour (largest |R - B| ${px.spread}; red object R - B ` +
        `${px.inBoxes[0].redness}, blue object B - R ${px.inBoxes[1].blueness})`);
      // Each point shows over whatever it covers: somewhere in its circle
      // or within 3 px of it (its outline) the luminance moves by 100 or
      // more, and its middle is not the image's colour. And it would on
      // any other colour: its mark holds a light (200 or more) and a dark
      // (60 or less) luminance, whatever the image has there.
      const faint = px.marks.map((m, i) => [i, m]).filter(([, m]) => m.contrast < 100 || m.middle < 40);
      const oneTone = px.marks.map((m, i) => [i, m]).filter(([, m]) => m.light < 200 || m.dark > 60);
      check(oneTone.length === 0,
        `${what}: every point is outlined light and dark (darkest of the lightest ` +
        `${Math.min(...px.marks.map((m) => m.light)).toFixed(0)}, lightest of the darkest ` +
        `${Math.max(...px.marks.map((m) => m.dark)).toFixed(0)})` +
        (oneTone.length ? `; not: ${oneTone.map(([i]) => i).join(' ')}` : ''));
      const inside = (box, p) => p.cx >= box[0] && p.cx < box[2] && p.cy >= box[1] && p.cy < box[3];
      check(faint.length === 0,
        `${what}: every point stands out from the image under it (least luminance change ` +
        `${Math.min(...px.marks.map((m) => m.contrast)).toFixed(0)}, least colour change at the middle ` +
        `${Math.min(...px.marks.map((m) => m.middle)).toFixed(0)}; ${drawn.filter((p) => inside(red, p)).length} ` +
        `points on the red object, ${drawn.filter((p) => inside(blue, p)).length} on the blue)` +
        (faint.length ? `; faint: ${faint.map(([i]) => i).join(' ')}` : ''));

      // The legend: a swatch per level drawn, in the points' colours, and
      // the edges per point the slider sets.
      const legend = await page.$eval('#legend', (l) => ({
        text: l.textContent,
        swatches: [...l.querySelectorAll('.swatch[data-level]')].map((s) =>
          ({ level: Number(s.dataset.level), colour: getComputedStyle(s).backgroundColor })),
      }));
      const rgb = (hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
      const levels = [...new Set(drawn.map((p) => p.level))].sort((a, b) => a - b);
      check(JSON.stringify(legend.swatches.map((s) => s.level)) === JSON.stringify(levels) &&
            legend.swatches.every((s) => drawn.filter((p) => p.level === s.level)
              .every((p) => rgb(p.fill) === s.colour)),
        `${what}: the legend has a swatch per level drawn, in its points' colour (${levels.join(' ')})`);
      const perPoint = await page.$eval('#edges', (s) => s.value);
      check(legend.text.includes(`each point's ${perPoint} strongest edge`),
        `${what}: the legend names the ${perPoint} edges per point drawn`);
    }
    await page.$eval('#edges', (s) => { s.value = '0'; s.dispatchEvent(new Event('input')); });
    const zero = await page.$eval('#legend', (l) => l.textContent);
    check(zero.includes('No edges drawn') && await page.$$eval('#overlay .edge', (e) => e.length) === 0,
      `with no edges per point, none are drawn and the legend says so`);
    check(elsewhere.length === 0, `relations: nothing fetched from elsewhere ${elsewhere.join(' ')}`);
    check(errors.length === 0, `relations: no script errors ${errors.join('; ')}`);
    await page.close();
  } finally {
    server.kill('SIGTERM');
  }
}

async function main() {
  const { server, port } = await startServer(args.repository);
  const base = `http://127.0.0.1:${port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gcnserve-viewer-'));
  let context;
  try {
    // What the API says about the image, to hold the page to.
    const image = fs.readFileSync(args.image);
    const response = await fetch(`${base}/v1/classify?top_k=5&graph=full`, {
      method: 'POST', headers: { 'Content-Type': 'image/png' }, body: image,
    });
    const expected = await response.json();
    check(response.ok && expected.points.length > 0,
      `the API answers with ${expected.points.length} points`);

    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.GCNSERVE_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1280, height: 720 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
        '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const { page, elsewhere, errors } = await openPage(context, base);

    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    check(await page.$eval('#model', (s) => s.value) === expected.model,
      `the model list offers the default model ${expected.model}`);

    // Before an image is chosen: the controls and a prompt, and nothing of
    // the result (no empty panels, no black drawing area).
    const visible = async (selectors) => {
      const shown = [];
      for (const selector of selectors) if (await page.isVisible(selector)) shown.push(selector);
      return shown;
    };
    const resultParts = ['#result', '#image-panel', '#classes-panel', '#adjacency-panel',
      '#overlay', '#heatmap', '#top-class', '#facts'];
    check(await page.$eval('#status', (e) => e.textContent) === 'Choose, drop or paste an image.',
      'before an image is chosen the page asks for one');
    check((await visible(['#model', '#version', '#file', '#edges'])).length === 4,
      'before an image is chosen the controls show');
    const shownEmpty = await visible(resultParts);
    check(shownEmpty.length === 0,
      `before an image is chosen no result panel shows (shown: ${shownEmpty.join(' ') || 'none'})`);
    const emptyHeight = await page.$eval('#result', (e) => e.getBoundingClientRect().height);
    check(emptyHeight === 0, `before an image is chosen the result takes no room (${emptyHeight} px)`);
    if (args['empty-screenshot']) {
      await page.screenshot({ path: args['empty-screenshot'], fullPage: true });
      console.log(`screenshot before an image: ${args['empty-screenshot']}`);
    }

    await page.setInputFiles('#file', args.image);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null,
      { timeout: 60000 });
    const shownReady = await visible(resultParts);
    check(shownReady.length === resultParts.length,
      `once an image is drawn every result panel shows (${shownReady.length} of ${resultParts.length})`);
    const overlayBox = await page.$eval('#overlay', (s) => s.getBoundingClientRect().toJSON());
    check(overlayBox.width > 100 && overlayBox.height > 100,
      `once an image is drawn the drawing has room (${overlayBox.width}x${overlayBox.height})`);

    const points = await page.$$eval('#overlay circle.point', (cs) =>
      cs.map((c) => ({ x: Number(c.getAttribute('cx')), y: Number(c.getAttribute('cy')) })));
    check(points.length === expected.points.length,
      `the page draws ${points.length} points, the API returned ${expected.points.length}`);
    const placed = points.every((p, i) =>
      Math.abs(p.x - (expected.points[i].x || 0)) < 1e-3 &&
      Math.abs(p.y - (expected.points[i].y || 0)) < 1e-3);
    check(placed, 'each point sits at its x, y in the image\'s pixels');
    const viewBox = await page.$eval('#overlay', (s) => s.getAttribute('viewBox'));
    check(viewBox === `0 0 ${expected.imageWidth} ${expected.imageHeight}`,
      `the drawing spans the image's own pixels (viewBox ${viewBox})`);
    const top = await page.$eval('#top-class', (e) => e.textContent);
    check(top === expected.classes[0].label, `the top class shown is ${top}`);
    check(await page.$$eval('#classes li', (l) => l.length) === expected.classes.length,
      'a bar per class returned');
    check(await page.$eval('[data-fact="digest"]', (e) => e.textContent) === expected.modelDigest,
      'the model digest is shown');
    // The drift of the version that answered, as ListModels gives it.
    await page.waitForFunction(() => {
      const dd = document.querySelector('[data-fact="drift"]');
      return dd && dd.textContent && dd.textContent !== 'reading…';
    });
    const drift = await page.$eval('[data-fact="drift"]', (e) => e.textContent);
    check(/^(no reference in this export|not scored yet: \d+ of \d+ answers|\d+\.\d{3} \((no shift|moderate|major), over \d+ answers\))$/.test(drift),
      `the drift of the version that answered is shown ("${drift}")`);

    const k = expected.adjacency.size;
    check(await page.$$eval('#heatmap .cell', (c) => c.length) === k * k,
      `the heat map has ${k}x${k} cells`);
    const edges = async () => page.$$eval('#overlay .edge', (e) => e.length);
    const before = await edges();
    await page.$eval('#edges', (s) => { s.value = '0'; s.dispatchEvent(new Event('input')); });
    const none = await edges();
    await page.$eval('#edges', (s) => { s.value = s.max; s.dispatchEvent(new Event('input')); });
    const all = await edges();
    check(before > 0 && none === 0 && all >= before,
      `the slider sets the edges drawn (${none} at 0, ${before} at 2, ${all} at most)`);

    await page.hover('#overlay circle.point[data-index="0"]');
    check(await page.$eval('#band-row', (b) => b.getAttribute('visibility')) === 'visible' &&
          await page.$eval('#band-row', (b) => b.getAttribute('y')) === '0',
      'hovering point 0 lights row and column 0 of the heat map');
    await page.hover(`#heatmap .cell[data-i="1"][data-j="${k - 1}"]`);
    const lit = await page.$$eval('#overlay .point.lit', (cs) => cs.map((c) => c.dataset.index));
    check(lit.length === 2 && lit.includes('1') && lit.includes(String(k - 1)),
      `hovering cell (1, ${k - 1}) lights its two points (${lit})`);
    await page.mouse.move(0, 0);

    // Any image size: a wide image the browser draws itself, 360 x 120.
    const wideUrl = await page.evaluate(() => {
      const canvas = document.createElement('canvas');
      canvas.width = 360;
      canvas.height = 120;
      const g = canvas.getContext('2d');
      g.fillStyle = '#000';
      g.fillRect(0, 0, 360, 120);
      g.fillStyle = '#ddd';
      g.fillRect(140, 10, 80, 100);
      return canvas.toDataURL('image/png');
    });
    const wide = Buffer.from(wideUrl.split(',')[1], 'base64');
    const wideAnswer = await (await fetch(`${base}/v1/classify?top_k=5&graph=full`, {
      method: 'POST', headers: { 'Content-Type': 'image/png' }, body: wide,
    })).json();
    await page.setInputFiles('#file', { name: 'wide.png', mimeType: 'image/png', buffer: wide });
    await page.waitForFunction(() => document.body.dataset.state === 'ready' &&
      document.querySelector('#overlay').getAttribute('viewBox') === '0 0 360 120', null, { timeout: 60000 });
    const widePoints = await page.$$eval('#overlay circle.point', (cs) =>
      cs.map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]));
    check(widePoints.length === wideAnswer.points.length &&
          widePoints.every(([x, y], i) => Math.abs(x - (wideAnswer.points[i].x || 0)) < 1e-3 &&
                                          Math.abs(y - (wideAnswer.points[i].y || 0)) < 1e-3),
      `a 360x120 image: ${widePoints.length} points at the API's pixels`);
    const box = await page.$eval('#overlay', (s) => s.getBoundingClientRect().toJSON());
    check(Math.abs(box.width / box.height - 3) < 0.05, `drawn at the image's aspect (${box.width}x${box.height})`);
    // Dropped and pasted images are classified too: the sample again, as a
    // file in a DataTransfer, then the wide one.
    const sampleBase64 = image.toString('base64');
    const give = (how, b64) => page.evaluate(([kind, data]) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'given.png', { type: 'image/png' }));
      const event = kind === 'drop'
        ? new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true })
        : new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true });
      document.dispatchEvent(event);
    }, [how, b64]);
    const shows = (box) => page.waitForFunction((w) => document.body.dataset.state === 'ready' &&
      document.querySelector('#overlay').getAttribute('viewBox') === w, box, { timeout: 60000 })
      .then(() => true, () => false);
    const sampleBox = `0 0 ${expected.imageWidth} ${expected.imageHeight}`;
    await give('drop', sampleBase64);
    check(await shows(sampleBox), 'a dropped image is classified and drawn');
    await give('paste', wide.toString('base64'));
    check(await shows('0 0 360 120'), 'a pasted image is classified and drawn');
    // Back to the sample for the screenshot.
    await give('drop', sampleBase64);
    check(await shows(sampleBox), 'the sample is drawn again');

    check(elsewhere.length === 0, `nothing fetched from elsewhere ${elsewhere.join(' ')}`);
    check(errors.length === 0, `no script errors ${errors.join('; ')}`);
    if (args.screenshot) {
      // As a person sees it: two edges per point, one point hovered.
      await page.$eval('#edges', (s) => { s.value = '2'; s.dispatchEvent(new Event('input')); });
      await page.hover('#overlay circle.point[data-index="0"]');
      await page.screenshot({ path: args.screenshot, fullPage: true });
      console.log(`screenshot: ${args.screenshot}`);
    }
    if (args.relations) await checkRelations(context);
  } finally {
    if (context) await context.close();
    server.kill('SIGTERM');
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (failures) {
    console.log(`${failures} check(s) failed`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
