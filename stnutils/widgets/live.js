// Layer 3 of the book's model explorer (stnutils.widgets): the trained models run in the reader's
// browser with onnxruntime-web (WebAssembly, one thread, no worker), so every slider position gets
// the network's own answer, not only the pre-rendered grid of the static slider (layer 2).
//
// The static slider's inline script loads this file (from _static/explorer/, where the book's
// extension _ext/explorer_assets.py copies it) only when the page is served over http(s). It composes
// each scene with the float32 arithmetic of stnutils.data (NoisyMNIST128: apply_contrast,
// compose_scenes_ with the disc mask), from the digit and raw background field shipped in data.js,
// runs each model, and hands the result to the slider's own drawing code (root.stnx.show). Anything
// that fails (runtime, data, a model, a run) sends the page back to the grid, saying why.
'use strict';
(() => {
  const S = 128, D = 28, CENTRE = (S - D) / 2;
  const f32 = Math.fround;
  const LOAD_TIMEOUT_MS = 60000;

  // ------------------------------------------------------------------ stnutils' arithmetic
  // stnutils.data.scenes.disc_mask: R < 1 on torch.linspace(-1, 1, S) in float64. torch's CPU
  // linspace fills the first half from the start and the second half from the end.
  function discMask(size) {
    const step = 2 / (size - 1), half = Math.floor(size / 2), axis = new Float64Array(size);
    for (let k = 0; k < size; k++) axis[k] = k < half ? -1 + step * k : 1 - step * (size - k - 1);
    const disc = new Uint8Array(size * size);
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++)
        disc[r * size + c] = Math.sqrt(axis[r] * axis[r] + axis[c] * axis[c]) < 1 ? 1 : 0;
    return disc;
  }
  const DISC = discMask(S);

  // stnutils.data.scenes.apply_contrast(layer, c, floor_zero=True) in float32: 1.0 / t is torch's
  // reciprocal; addcmul is fused (one rounding), and layer (8-bit) * gain is exact in float64.
  function applyContrast(layer, contrast) {
    let lo = Infinity, hi = -Infinity;
    for (const v of layer) { if (v < lo) lo = v; if (v > hi) hi = v; }
    lo = Math.min(lo, 0);
    const span = f32(hi - lo);
    const scale = span > 0 ? f32(1 / Math.max(span, f32(1e-12))) : 0;
    const c = f32(contrast), gain = f32(c * scale);
    const bias = f32(f32(0.5 - f32(0.5 * c)) - f32(gain * lo));
    const out = new Float32Array(layer.length);
    for (let p = 0; p < layer.length; p++) out[p] = bias + layer[p] * gain;
    return out;
  }

  // NoisyMNIST128.batch: gain = (0.5 * noise) / max(field_max, -field_min).clamp_min(1e-30), where
  // python_scalar / tensor is reciprocal(tensor) * scalar, in float32.
  function backgroundGain(fieldMin, fieldMax, noise) {
    const m = Math.max(f32(fieldMax), f32(-fieldMin), f32(1e-30));
    return f32(f32(1 / m) * f32(0.5 * noise));
  }

  // The scene of sample (digit, raw field) at offset (i, j): compose_scenes_(..., mask=True).
  function composeScene(sample, i, j, contrast, noise) {
    const digit = applyContrast(sample.pixels, contrast);
    const top = CENTRE + i, left = CENTRE + j;
    const scene = new Float32Array(S * S);
    if (!(noise > 0)) {
      // a flat background: 0.5, composite (strokes above 0.5, clipped to [0, 1]), apply_disc_mask
      const z = new Float32Array(S * S).fill(0.5);
      for (let r = 0; r < D; r++)
        for (let c = 0; c < D; c++) {
          const d = digit[r * D + c];
          if (d > 0.5) z[(top + r) * S + left + c] = Math.min(Math.max(d, 0.5), 1);
        }
      let lo = Infinity, hi = -Infinity;
      for (const v of z) { if (v < lo) lo = v; if (v > hi) hi = v; }
      let span = f32(hi - lo);
      if (!(span > 0)) span = 1;
      for (let k = 0; k < S * S; k++) scene[k] = DISC[k] ? f32(f32(z[k] - lo) / span) : 0.5;
      return scene;
    }
    // strokes brighter than the field replace it, in field units; normalise by the extremes; disc
    const g = backgroundGain(sample.field_min, sample.field_max, noise);
    const z = Float32Array.from(sample.field);
    let patchHi = -Infinity;
    for (let r = 0; r < D; r++)
      for (let c = 0; c < D; c++) {
        const k = (top + r) * S + left + c, d = digit[r * D + c];
        const stroke = d > 0.5 ? f32((d - 0.5) / g) : -Infinity;  // d - 0.5 is exact
        const v = Math.max(z[k], stroke);
        z[k] = v;
        if (v > patchHi) patchHi = v;
      }
    let lo = Infinity;
    for (const v of z) if (v < lo) lo = v;
    const hi = Math.max(f32(sample.field_max), patchHi);
    let span = f32(hi - lo);
    if (!(span > 0)) span = 1;
    for (let k = 0; k < S * S; k++) scene[k] = DISC[k] ? f32(f32(z[k] - lo) / span) : 0.5;
    return scene;
  }

  // stnutils.data.scenes.polar_offsets with math.radians: (int(r cos a), int(r sin a)), float64.
  function polarOffsets(radius, degrees) {
    const a = degrees * (Math.PI / 180);
    return [Math.trunc(radius * Math.cos(a)), Math.trunc(radius * Math.sin(a))];
  }

  // stnutils.models.transformer.theta_corners: (x, y) pixel corners of the sampled region.
  function thetaCorners(t, size) {
    return [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([u, v]) => {
      const x = t[0] * u + t[1] * v + t[2], y = t[3] * u + t[4] * v + t[5];
      return [((x + 1) * size - 1) / 2, ((y + 1) * size - 1) / 2];
    });
  }

  const points = corners => corners.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(' ');

  function patchCorners(i, j) {
    const x0 = CENTRE + j - 0.5, y0 = CENTRE + i - 0.5;
    return [[x0, y0], [x0 + D, y0], [x0 + D, y0 + D], [x0, y0 + D]];
  }

  function softmax(logits) {
    const m = Math.max(...logits), e = logits.map(v => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return e.map(v => v / s);
  }

  // stnutils.widgets.render.caption_text
  function caption(name, probs, theta, label) {
    const k = probs.indexOf(Math.max(...probs));
    const verdict = label === undefined ? '' : (k === label ? ' (right)' : ` (wrong: it is a ${label})`);
    const zoom = Math.sqrt(Math.abs(theta[0] * theta[4] - theta[1] * theta[3]));
    return `${name} answers ${k} (${(100 * probs[k]).toFixed(1)}%)${verdict}; looks at (i, j) = ` +
      `(${(theta[5] * S / 2).toFixed(1)}, ${(theta[2] * S / 2).toFixed(1)}) px, region ${(zoom * S).toFixed(0)} px wide`;
  }

  function pngOf(values, w, h) {
    const canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(w, h);
    for (let k = 0; k < w * h; k++) {
      const v = Math.max(0, Math.min(255, Math.round(values[k] * 255)));
      img.data[4 * k] = img.data[4 * k + 1] = img.data[4 * k + 2] = v;
      img.data[4 * k + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return canvas.toDataURL('image/png');
  }

  function bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let k = 0; k < bin.length; k++) out[k] = bin.charCodeAt(k);
    return out;
  }

  // data.js samples: the test index, seed and label, the digit's 784 pixels and the raw field
  const samplesOf = data => data.samples.map(s => ({
    index: s.digit, seed: s.seed, label: s.label, field_min: s.field_min, field_max: s.field_max,
    pixels: bytes(s.digit_u8), field: new Float32Array(bytes(s.field_f32).buffer),
  }));

  // ------------------------------------------------------------------ loading
  const withTimeout = (promise, ms, what) => Promise.race([promise, new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms))]);

  const scripts = {};
  function loadScript(src) {
    if (!scripts[src]) scripts[src] = new Promise((resolve, reject) => {
      const el = document.createElement('script');
      el.src = src;
      el.onload = resolve;
      el.onerror = () => reject(new Error(`${src} did not load`));
      document.head.appendChild(el);
    });
    return scripts[src];
  }

  const here = (document.currentScript && document.currentScript.src) || '';
  const BASE = here ? new URL('.', here).href : '';
  const mb = n => (n / 1e6).toFixed(1) + ' MB';

  async function runtime() {
    await loadScript(BASE + 'ort/ort.wasm.min.js');
    if (typeof ort === 'undefined') throw new Error('onnxruntime-web did not define ort');
    ort.env.wasm.wasmPaths = BASE + 'ort/';
    ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer without cross-origin isolation (COOP/COEP)
    ort.env.wasm.proxy = false;   // no worker: a worker would detach the scene's buffer
    ort.env.logLevel = 'error';
    return ort;
  }

  function control(root, html) {
    const wrap = document.createElement('span');
    wrap.innerHTML = html;
    const el = wrap.firstElementChild;
    el.classList.add('stnx-live-only');
    root.querySelector('.stnx-controls').appendChild(el);
    return el;
  }

  async function start(root) {
    const spec = JSON.parse(root.querySelector('.stnx-spec').textContent);
    const status = root.querySelector('.stnx-status'), stnx = root.stnx, T = stnx.table;
    const names = Object.keys(spec.models);
    const modelBytes = names.reduce((a, n) => a + spec.models[n].bytes, 0);
    const first = status.innerHTML;
    status.innerHTML = first + ` <strong>Starting the live models</strong> (onnxruntime-web ${mb(spec.runtime_bytes)}, ` +
      `data ${mb(spec.data_bytes)}, models ${mb(modelBytes)})…`;
    const t0 = performance.now();
    await runtime();
    const dir = BASE + spec.payload + '/';
    await loadScript(dir + 'data.js');
    const data = (window.STNX_DATA || {})[spec.payload];
    if (!data || data.format !== spec.format) throw new Error(`${dir}data.js holds no payload ${spec.payload}`);
    const samples = samplesOf(data);
    const sessions = {};
    await Promise.all(names.map(async name => {
      sessions[name] = await ort.InferenceSession.create(dir + spec.models[name].file,
        {executionProviders: ['wasm'], graphOptimizationLevel: 'all'});
    }));
    const loadMs = performance.now() - t0;

    // finer sliders, and the pickers of the shipped digits, seeds and the noise level
    // the value is re-snapped at each attribute change: keep it across them
    const set = (name, min, max, step) => {
      const el = stnx.input(name), value = el.value;
      Object.assign(el, {min, max, step});
      el.value = value;
    };
    set('eccentricity', 0, (S - D) / 2, 1);
    set('direction', 0, 355, 5);
    set('contrast', 0.05, 1, 0.05);
    const noise = control(root, `<label>noise <input type="range" name="noise" min="0" max="1" step="0.05" ` +
      `value="${spec.noise}"> <output for="noise">${spec.noise}</output></label>`);
    const pick = control(root, '<label>digit over its background <select name="sample">' + samples.map((s, k) =>
      `<option value="${k}">test #${s.index} (a ${s.label}), seed ${s.seed}</option>`).join('') +
      '</select></label>');
    const fixed = T.fixed;
    const home = samples.findIndex(s => s.index === fixed.digit && s.seed === fixed.seed);
    pick.querySelector('select').value = String(Math.max(home, 0));
    [noise, pick].forEach(el => el.querySelector('input, select').addEventListener('input', () => stnx.update()));

    const run = {busy: false, pending: false, runs: 0};
    let lastMs = 0;
    async function live() {
      if (run.busy) { run.pending = true; return; }
      run.busy = true;
      try {
        do {
          run.pending = false;
          root.querySelectorAll('output').forEach(o => { o.value = stnx.input(o.getAttribute('for')).value; });
          const ecc = +stnx.input('eccentricity').value, deg = +stnx.input('direction').value;
          const contrast = +stnx.input('contrast').value, noiseLevel = +stnx.input('noise').value;
          const sample = samples[+root.querySelector('select[name=sample]').value];
          const [i, j] = polarOffsets(ecc, deg);
          const t1 = performance.now();
          const scene = composeScene(sample, i, j, contrast, noiseLevel);
          const input = new ort.Tensor('float32', scene, [1, 1, S, S]);
          const views = {};
          for (const name of names) {
            const out = await sessions[name].run({scene: input});
            const logits = Array.from(out.logits.data), theta = Array.from(out.theta.data);
            const [, , gh, gw] = out.glimpse.dims, probs = softmax(logits);
            views[name] = {logits, theta, p: probs, box: points(thetaCorners(theta, S)),
                           src: pngOf(out.glimpse.data, gw, gh), glimpseShape: [gh, gw],
                           caption: caption(name, probs, theta, sample.label)};
          }
          lastMs = performance.now() - t1;
          // models that do not run here: their pre-rendered view at a grid point, else greyed out
          const key = [ecc, deg, contrast].join('|');
          const onGrid = sample.index === fixed.digit && sample.seed === fixed.seed &&
            noiseLevel === fixed.noise && key in T.index;
          for (const name of T.models)
            if (!(name in views) && onGrid) views[name] = T.states[T.index[key]].views[name];
          const st = {sceneSrc: pngOf(scene, S, S), truth: points(patchCorners(i, j)), label: sample.label};
          stnx.show(st, views);
          stnx.current = {mode: 'live', key, onGrid, offset: [i, j], contrast, noise: noiseLevel, eccentricity: ecc,
                          direction: deg, digit: sample.index, seed: sample.seed, label: sample.label,
                          scene, views, ms: lastMs};
          run.runs++;
        } while (run.pending);
        status.className = 'stnx-status stnx-live';
        const others = T.models.filter(n => !names.includes(n));
        status.innerHTML = `<strong>Live</strong>: ${names.join(', ')} run in your browser (onnxruntime-web, ` +
          `WebAssembly, one thread), on scenes composed here exactly as stnutils makes them; any slider ` +
          `position works. Downloaded: runtime ${mb(spec.runtime_bytes)}, data ${mb(spec.data_bytes)}, ` +
          `models ${mb(modelBytes)} (${spec.weights} weights), loaded in ${(loadMs / 1000).toFixed(1)} s; ` +
          `last update ${lastMs.toFixed(0)} ms.` + others.map(n => ` <em>${n}</em>: ${spec.notes[n] ||
          'not exported'}; shown at the pre-rendered grid points only.`).join('');
      } catch (err) {
        fallBack(root, err, first);
      } finally {
        run.busy = false;
      }
    }
    if (stnx.failed) return;
    stnx.run = run;
    stnx.live = live;
    await live();
  }

  function fallBack(root, err, first) {
    const stnx = root.stnx;
    console.warn('stnutils explorer: live models unavailable:', err);
    stnx.live = null;
    stnx.failed = true;
    stnx.error = String(err && err.message || err);
    for (const name of ['eccentricity', 'direction', 'contrast']) {
      const el = stnx.input(name), value = el.value;
      Object.assign(el, {min: el.dataset.gridMin, max: el.dataset.gridMax, step: el.dataset.gridStep});
      el.value = value;  // snapped to the nearest grid value
    }
    root.querySelectorAll('.stnx-live-only').forEach(el => el.remove());
    const status = root.querySelector('.stnx-status');
    status.className = 'stnx-status stnx-fallback';
    status.innerHTML = first + ' <strong>The live models could not start here</strong>, so the pre-rendered grid ' +
      'is shown. Reason: ' + stnx.error.replace(/[&<>]/g, ch => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'}[ch]));
    stnx.update();
  }

  window.STNX_LIVE = {composeScene, applyContrast, backgroundGain, polarOffsets, thetaCorners, discMask, softmax,
                      samplesOf, caption};
  for (const root of document.querySelectorAll('.stnx')) {
    if (!root.stnx || !root.querySelector('.stnx-spec') || root.stnx.starting) continue;
    root.stnx.starting = true;
    const first = root.querySelector('.stnx-status').innerHTML;
    withTimeout(start(root), LOAD_TIMEOUT_MS, 'starting the live models').catch(err => fallBack(root, err, first));
  }
})();
