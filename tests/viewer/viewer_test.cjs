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
// usage: node viewer_test.cjs --server GCNSERVE --repository DIR
//          --image FILE --tools NODE_DIR [--screenshot OUT.png]
//          [--empty-screenshot EMPTY.png]
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
const { chromium } = require(path.resolve(args.tools, 'node_modules', 'playwright-core'));

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// gcnserve on 127.0.0.1 with every port picked by the kernel; resolves with
// the HTTP port from the start-up line ("..., HTTP port N, metrics off").
function startServer() {
  const server = spawn(args.server, [
    '--model-repository', args.repository, '--grpc-address', '127.0.0.1:0',
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

async function main() {
  const { server, port } = await startServer();
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
    const page = context.pages()[0] || await context.newPage();
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
