#!/usr/bin/env node
// Loads the exporter's landing page in headless Chromium (Debian's, driven by playwright-core)
// and checks it the way a person would see it.
//
// Usage: page-check.js URL SCREENSHOT.png MODE
//   MODE "charts":       every chart is an SVG with a title and non-empty coloured shapes, at
//                        least MIN_CHARTS of them, and each chart's screenshot has enough
//                        distinct colours and non-white pixels not to be blank
//   MODE "placeholders": no chart, and the status cards say "Not run yet"
//   MODE "failed":       the last-sweep card says every combination failed
// Always: HTTP 200, no console error, no page error, no failed or external request, the
// page under 200 KB, and a full-page screenshot written to SCREENSHOT.png.
// Prints one JSON line of what it found; exits 1 with the reasons when a check fails.
'use strict';

const { chromium } = require('playwright-core');

const [url, screenshot, mode] = process.argv.slice(2);
const MIN_CHARTS = Number(process.env.MIN_CHARTS || 6);
const MAX_BYTES = 200 * 1024;
const problems = [];
const fail = (why) => problems.push(why);

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const origin = new URL(url).origin;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') fail(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => fail(`page error: ${e.message}`));
    page.on('requestfailed', (r) => fail(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(origin)) fail(`external request: ${r.url()}`);
    });

    const response = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    if (response.status() !== 200) fail(`HTTP ${response.status()}`);
    const body = await response.body();
    if (body.length >= MAX_BYTES) fail(`page is ${body.length} bytes, limit ${MAX_BYTES}`);

    const charts = await page.$$eval('figure svg', (svgs) =>
      svgs.map((svg) => {
        // Data are drawn in colour; axes, grid, text and background in black, grey and white.
        const coloured = (s) =>
          ['fill', 'stroke'].some((a) => {
            const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s.getAttribute(a) || '');
            return m && !(m[1] === m[2] && m[2] === m[3]);
          });
        const shapes = [...svg.querySelectorAll('polyline, polygon, path, rect, circle')].filter(coloured);
        const data = shapes.filter((s) => {
          if (s.tagName === 'polyline' || s.tagName === 'polygon') {
            return (s.getAttribute('points') || '').trim().split(/\s+/).length >= 2;
          }
          if (s.tagName === 'path') return (s.getAttribute('d') || '').trim().length > 0;
          const box = s.getBBox();
          return box.width > 0 && box.height > 0;
        });
        const box = svg.getBoundingClientRect();
        return {
          title: svg.querySelector('title')?.textContent || '',
          desc: svg.querySelector('desc')?.textContent || '',
          role: svg.getAttribute('role'),
          shapes: data.length,
          width: box.width,
        };
      }),
    );
    const text = await page.innerText('body');

    if (mode === 'charts') {
      if (charts.length < MIN_CHARTS) fail(`${charts.length} charts, expected at least ${MIN_CHARTS}`);
      for (const c of charts) {
        if (!c.title || !c.desc || c.role !== 'img') fail(`chart without title, desc or role: ${JSON.stringify(c)}`);
        if (c.shapes < 3) fail(`chart "${c.title}" has ${c.shapes} data shapes`);
        if (c.width < 400) fail(`chart "${c.title}" is ${c.width} px wide at 1280 px`);
      }
    } else if (mode === 'placeholders') {
      if (charts.length !== 0) fail(`${charts.length} charts before the first sweep`);
      if ((text.match(/Not run yet/g) || []).length < 2) fail('the status cards do not say "Not run yet"');
    } else if (mode === 'failed') {
      if (!/0 ok, \d+ failed/.test(text)) fail('the last-sweep card does not say every run failed');
    } else {
      fail(`unknown mode ${mode}`);
    }

    await page.screenshot({ path: screenshot, fullPage: true });
    // Not blank: each chart, as rendered, has many colours and enough ink.
    const shots = [];
    for (const figure of await page.$$('figure')) {
      shots.push((await figure.screenshot()).toString('base64'));
    }
    const blank = await browser.newPage();
    const inks = await blank.evaluate(async (pngs) => {
      const out = [];
      for (const png of pngs) {
        const img = new Image();
        img.src = `data:image/png;base64,${png}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0);
        const { data } = ctx.getImageData(0, 0, img.width, img.height);
        const colours = new Set();
        let ink = 0;
        for (let i = 0; i < data.length; i += 4) {
          colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
          if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) ink += 1;
        }
        out.push({ colours: colours.size, ink: ink / (data.length / 4) });
      }
      return out;
    }, shots);
    inks.forEach((s, i) => {
      if (s.colours < 8 || s.ink < 0.005) {
        fail(`chart ${i} ("${charts[i]?.title}") looks blank: ${s.colours} colours, ${(s.ink * 100).toFixed(2)} % ink`);
      }
    });
    console.log(JSON.stringify({ mode, bytes: body.length, charts, inks, problems }));
  } finally {
    await browser.close();
  }
}

main().then(
  () => {
    if (problems.length) {
      for (const p of problems) console.error(`page-check: ${p}`);
      process.exit(1);
    }
  },
  (e) => {
    console.error(`page-check: ${e.stack || e}`);
    process.exit(1);
  },
);
