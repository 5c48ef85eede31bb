// Progress figures (pure, tested in Node) and the progress panel (DOM).

const MiB = 1024 ** 2
// Binary (IEC) units, the same rules as the portal's `size` template filter (common/sizes.py).
const SIZE_UNITS = [[1024 ** 4, 'TiB', 2], [1024 ** 3, 'GiB', 2], [MiB, 'MiB', 1], [1024, 'KiB', 1]]

export function formatBytes(bytes) {
  for (const [factor, unit, decimals] of SIZE_UNITS) {
    if (bytes >= factor) return `${(bytes / factor).toFixed(decimals)} ${unit}`
  }
  const whole = Math.round(bytes)
  return `${whole} byte${whole === 1 ? '' : 's'}`
}

export function formatSpeed(bytesPerSecond) {
  if (bytesPerSecond == null || !Number.isFinite(bytesPerSecond)) return '– MiB/s'
  return `${(bytesPerSecond / MiB).toFixed(1)} MiB/s`
}

export function formatEta(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '–'
  const s = Math.ceil(seconds)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

// Integer 0–100; 100 only when everything is there.
export function percent(done, total) {
  if (!(total > 0)) return done >= total ? 100 : 0
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)))
}

export const etaSeconds = (remaining, rate) => (rate > 0 ? remaining / rate : null)

// Bytes per second over a sliding window of (time, bytes) samples.
export class SpeedMeter {
  constructor(windowMs = 10_000) {
    this.windowMs = windowMs
    this.samples = []
  }

  add(bytes, now = Date.now()) {
    this.samples.push([now, bytes])
    while (this.samples.length > 2 && now - this.samples[1][0] >= this.windowMs)
      this.samples.shift()
  }

  rate() {
    if (this.samples.length < 2) return null
    const [t0, b0] = this.samples[0]
    const [t1, b1] = this.samples[this.samples.length - 1]
    if (t1 <= t0) return null
    return Math.max(0, ((b1 - b0) * 1000) / (t1 - t0))
  }
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue
    el.setAttribute(name, value === true ? '' : value)
  }
  el.append(...children.flat())
  return el
}

const STATE_TEXT = {
  uploading: '',
  verifying: 'Upload complete. The portal is now checking the files…',
  done: 'Upload complete.',
  cancelled: 'Upload cancelled',
  error: '',
}

// Renders into `[data-upload-progress]`: one row per file (`data-file-row`),
// an overall row (`data-overall`), each with `data-percent`; the container
// carries `data-state`. Figures are refreshed on every event and once a second.
export class ProgressView {
  constructor(container, entries, { onCancel, onRetry }) {
    this.container = container
    this.files = entries.map((e) => ({
      read: e.read,
      name: e.name,
      size: e.size,
      uploaded: 0,
      kept: 0,
      hashed: 0,
      hashText: null,
      complete: false,
      meter: new SpeedMeter(),
      row: this.#row({ 'data-file-row': String(e.read) }, e.name),
    }))
    this.overallMeter = new SpeedMeter()
    const overallName = entries.length === 2 ? 'Both files' : `All ${entries.length} files`
    this.overall = this.#row({ 'data-overall': '' }, overallName)
    this.bound = h('p', { 'data-reload-bound': '', class: 'muted', hidden: true })
    this.status = h('p', { 'data-upload-status': '', role: 'status' })
    this.error = h('p', { 'data-upload-error': '', role: 'alert', hidden: true })
    this.cancelButton = h('button', { type: 'button', 'data-cancel': '' }, 'Cancel upload')
    this.retryButton = h('button', { type: 'button', 'data-retry': '', hidden: true }, 'Retry')
    this.cancelButton.addEventListener('click', () => onCancel())
    this.retryButton.addEventListener('click', () => onRetry())
    container.replaceChildren(
      ...this.files.map((f) => f.row.el),
      this.overall.el,
      this.bound,
      this.status,
      this.error,
      h('p', {}, this.retryButton, ' ', this.cancelButton),
    )
    container.hidden = false
    this.setState('uploading', 'Preparing the upload…')
    this.timer = setInterval(() => this.tick(), 1000)
  }

  // The bar has two segments: kept (parts S3 holds, which a reload keeps) and in flight (sent
  // but not yet acknowledged, which a reload sends again).
  #row(attrs, name) {
    const kept = h('span', { class: 'upload-bar-kept', 'data-bar-kept': '' })
    const flight = h('span', { class: 'upload-bar-flight', 'data-bar-flight': '' })
    const bar = h('div', { class: 'upload-bar', role: 'progressbar', 'aria-label': name,
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, kept, flight)
    const figures = h('span', { 'data-figures': '' })
    const hash = h('span', { 'data-hash': '' })
    const el = h('div', { class: 'upload-row', 'data-percent': '0', 'data-kept-percent': '0',
      'data-kept-bytes': '0', ...attrs }, h('strong', {}, name), ' ', bar, figures, ' · ', hash)
    return { el, bar, kept, flight, figures, hash }
  }

  file(read) {
    return this.files.find((f) => f.read === read)
  }

  setState(state, message = STATE_TEXT[state]) {
    this.container.dataset.state = state
    this.status.textContent = message ?? ''
    if (state !== 'error') this.error.hidden = true
    this.retryButton.hidden = state !== 'error'
    this.cancelButton.hidden = !['uploading', 'error'].includes(state)
    if (!['uploading', 'error'].includes(state)) this.stop()
    this.render()
  }

  setError(message, { retry = true } = {}) {
    this.setState('error')
    this.error.textContent = message
    this.error.hidden = false
    this.retryButton.hidden = !retry
  }

  setUploaded(read, bytes, now = Date.now()) {
    const f = this.file(read)
    // The first report may include parts stored before a reload: measure speed from there.
    if (f.meter.samples.length === 0) f.meter.add(bytes, now)
    f.uploaded = bytes
    f.meter.add(bytes, now)
    this.overallMeter.add(this.#sum('uploaded'), now)
    this.render()
  }

  setKept(read, bytes) {
    this.file(read).kept = bytes
    this.render()
  }

  // Said once the part sizes are known: the most a reload can make the browser send again.
  setReloadBound(bytes) {
    this.bound.textContent =
      'Kept: parts the storage server has confirmed; they survive a reload or a lost ' +
      `connection. Only parts in flight are sent again: at most ${formatBytes(bytes)}.`
    this.bound.hidden = false
  }

  setHashed(read, bytes) {
    this.file(read).hashed = bytes
    this.render()
  }

  setHashText(read, text) {
    this.file(read).hashText = text
    this.render()
  }

  setFileState(read, state) {
    const f = this.file(read)
    f.row.el.dataset.state = state
    f.complete = state === 'done'
    this.render()
  }

  tick(now = Date.now()) {
    for (const f of this.files) f.meter.add(f.uploaded, now)
    this.overallMeter.add(this.#sum('uploaded'), now)
    this.render()
  }

  stop() {
    clearInterval(this.timer)
  }

  #sum(key) {
    return this.files.reduce((n, f) => n + f[key], 0)
  }

  // 'done' | 'cancelled' | 'error' | null (still going)
  #status(files) {
    if (files.every((f) => f.complete)) return 'done'
    if (this.container.dataset.state === 'cancelled') return 'cancelled'
    return files.some((f) => f.row.el.dataset.state === 'error') ? 'error' : null
  }

  render() {
    for (const f of this.files) {
      const hashText = f.hashText ?? this.#hashText(f.hashed, f.size)
      this.#paint(f.row, f.uploaded, f.kept, f.size, f.meter.rate(), hashText, this.#status([f]))
    }
    const size = this.#sum('size')
    this.#paint(this.overall, this.#sum('uploaded'), this.#sum('kept'), size,
      this.overallMeter.rate(), this.#hashText(this.#sum('hashed'), size), this.#status(this.files))
  }

  #hashText(hashed, size) {
    return hashed >= size ? 'SHA-256 computed' : `SHA-256: ${percent(hashed, size)}%`
  }

  // 100 % only once the portal has accepted the file; all bytes sent but not
  // yet completed (storage answering, SHA-256 still running) shows 99 %.
  #paint(row, uploaded, kept, size, rate, hashText, status) {
    const done = status === 'done'
    const sent = done ? size : Math.max(uploaded, kept)
    const held = done ? size : Math.min(kept, sent)
    const pct = done ? 100 : Math.min(99, percent(sent, size))
    const keptPct = done ? 100 : Math.min(pct, percent(held, size))
    Object.assign(row.el.dataset, { percent: String(pct), keptPercent: String(keptPct),
      keptBytes: String(held) })
    row.bar.setAttribute('aria-valuenow', String(pct))
    // A stopped or cancelled upload's bar is greyed: a full blue bar beside "stopped" reads as done.
    row.bar.classList.toggle('upload-bar-stopped', status === 'error' || status === 'cancelled')
    row.bar.setAttribute('aria-valuetext', `${pct}% sent, ${keptPct}% kept`)
    row.kept.style.width = `${keptPct}%`
    row.flight.style.width = `${pct - keptPct}%`
    const sizes = done
      ? `${formatBytes(size)} of ${formatBytes(size)}`
      : `${formatBytes(sent)} of ${formatBytes(size)} sent · ${formatBytes(held)} kept`
    const note =
      { done: 'uploaded', cancelled: 'cancelled', error: 'stopped' }[status] ??
      (sent >= size
        ? 'completing…'
        : `${formatSpeed(rate)} · ${formatEta(etaSeconds(size - sent, rate))} left`)
    row.figures.textContent = `${sizes} · ${note}`
    row.hash.textContent = hashText
  }
}
