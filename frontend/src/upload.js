// Entry point: enhances the new-sample form (`form[data-upload-form]`) and the
// resume form (`form[data-resume-form]`). Without JavaScript both post normally.
import { createApi, extractErrors } from './api.js'
import { checkNewSampleFiles, checkResumeFile } from './files.js'
import { h } from './progress.js'
import { describeError, startUploads } from './uploader.js'

const field = (form, name) => form.elements.namedItem(name)
const chosenFile = (form, name) => field(form, name)?.files?.[0]
const apiFor = (form) => createApi({ csrfToken: field(form, 'csrfmiddlewaretoken')?.value ?? '' })
const navigate = (url) => window.location.assign(url)

function clearErrors(form) {
  form.querySelectorAll('[data-upload-inserted]').forEach((el) => el.remove())
  form.querySelectorAll('[data-error-for]').forEach((el) => el.replaceChildren())
}

// Messages go into `[data-error-for="<name>"]` if the page has one, else into
// a `<ul class="errorlist">` after the field (or atop the form for `__all__`).
function showErrors(form, name, messages) {
  const items = messages.map((m) => h('li', {}, m))
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`)
  if (slot) {
    slot.append(...(['UL', 'OL'].includes(slot.tagName) ? items : [h('ul', { class: 'errorlist' }, items)]))
    return
  }
  const list = h('ul', { class: 'errorlist', 'data-upload-inserted': '' }, items)
  let el = name === '__all__' ? null : field(form, name)
  if (el && !(el instanceof Element)) el = el[el.length - 1] // radio group
  if (el) el.after(list)
  else form.prepend(list)
}

function setBusy(form, busy) {
  for (const el of form.querySelectorAll('button, input[type="submit"], input[type="file"]')) el.disabled = busy
}

async function onNewSample(event) {
  const form = event.currentTarget
  event.preventDefault()
  clearErrors(form)
  const r1 = chosenFile(form, 'r1')
  const r2 = chosenFile(form, 'r2')
  const problems = Object.entries(checkNewSampleFiles(r1, r2))
  if (problems.length) {
    for (const [name, message] of problems) showErrors(form, name, [message])
    field(form, problems[0][0])?.focus?.()
    return
  }
  const data = new FormData(form)
  data.delete('r1')
  data.delete('r2')
  for (const [read, file] of [['r1', r1], ['r2', r2]]) {
    data.set(`${read}_name`, file.name)
    data.set(`${read}_size`, String(file.size))
  }
  const api = apiFor(form)
  setBusy(form, true)
  let created
  try {
    created = await api.createSample(form.getAttribute('action') || window.location.href, data)
  } catch (err) {
    setBusy(form, false)
    const errors = err.status === 400 ? extractErrors(err.body) : []
    if (errors.length) for (const { field: name, messages } of errors) showErrors(form, name, messages)
    else showErrors(form, '__all__', [describeError(err)])
    form.querySelector('.errorlist')?.scrollIntoView?.({ block: 'center' })
    return
  }
  // The sample exists now: a reload lands on its page, which offers to resume.
  window.history.replaceState(null, '', created.sample.url)
  const chosen = { 1: r1, 2: r2 }
  await startUploads({
    container: form.querySelector('[data-upload-progress]'),
    api,
    sampleUrl: created.sample.url,
    navigate,
    entries: created.files.map((f) => ({
      read: f.read,
      uploadUrl: f.upload_url,
      name: f.name,
      size: f.size,
      file: chosen[f.read],
    })),
  })
}

async function onResume(event) {
  const form = event.currentTarget
  event.preventDefault()
  clearErrors(form)
  let expected
  try {
    expected = JSON.parse(form.dataset.files)
  } catch {
    showErrors(form, '__all__', ['This page is missing the upload details; reload it.'])
    return
  }
  const entries = []
  for (const exp of expected) {
    const file = chosenFile(form, `r${exp.read}`)
    const problem = checkResumeFile(exp, file)
    if (problem) showErrors(form, `r${exp.read}`, [problem])
    else entries.push({ read: exp.read, uploadUrl: exp.upload_url, name: exp.name, size: exp.size, file })
  }
  if (entries.length < expected.length) return
  setBusy(form, true)
  await startUploads({
    container: form.querySelector('[data-upload-progress]'),
    api: apiFor(form),
    sampleUrl: form.dataset.sampleUrl || window.location.href,
    navigate,
    entries,
    onPrepareFailed: () => setBusy(form, false),
  })
}

// A CSV sample sheet and all its FASTQ files: the portal checks every row and creates the samples,
// then every file is uploaded like a single sample's. Rows in the progress panel are keyed
// "SAMPLE R1", "SAMPLE R2", ...
async function onSheet(event) {
  const form = event.currentTarget
  event.preventDefault()
  clearErrors(form)
  form.querySelector('[data-row-errors]')?.replaceChildren()
  const sheet = chosenFile(form, 'sheet')
  const fastqs = [...(field(form, 'fastqs')?.files ?? [])]
  if (!sheet) return showErrors(form, 'sheet', ['Choose the sample sheet (a .csv file).'])
  if (!fastqs.length) return showErrors(form, 'fastqs', ['Choose the FASTQ files the sheet names.'])
  const byName = new Map(fastqs.map((f) => [f.name, f]))
  const data = new FormData(form)
  data.delete('fastqs')
  data.set('files', JSON.stringify(fastqs.map((f) => ({ name: f.name, size: f.size }))))
  const api = apiFor(form)
  setBusy(form, true)
  let created
  try {
    created = await api.createSample(window.location.href, data)
  } catch (err) {
    setBusy(form, false)
    const body = err.body ?? {}
    const rows = form.querySelector('[data-row-errors]')
    for (const r of body.rows ?? [])
      rows?.append(h('li', {}, `Row ${r.row}${r.sample ? ` (${r.sample})` : ''}: ${r.errors.join(' ')}`))
    const errors = err.status === 400 ? extractErrors(body) : []
    if (errors.length) for (const { field: name, messages } of errors) showErrors(form, name, messages)
    else if (!(body.rows ?? []).length) showErrors(form, '__all__', [describeError(err)])
    return
  }
  window.history.replaceState(null, '', created.list_url)
  await startUploads({
    container: form.querySelector('[data-upload-progress]'),
    api,
    sampleUrl: created.list_url,
    doneUrl: created.done_url,
    navigate,
    entries: created.samples.flatMap(({ sample, files }) =>
      files.map((f) => ({
        read: `${sample.name} R${f.read}`,
        uploadUrl: f.upload_url,
        name: f.name,
        size: f.size,
        file: byName.get(f.name),
      }))),
  })
}

function init() {
  document.querySelectorAll('form[data-upload-form]').forEach((f) => f.addEventListener('submit', onNewSample))
  document.querySelectorAll('form[data-resume-form]').forEach((f) => f.addEventListener('submit', onResume))
  document.querySelectorAll('form[data-sheet-form]').forEach((f) => f.addEventListener('submit', onSheet))
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init)
else init()
