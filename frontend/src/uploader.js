// Uppy + @uppy/aws-s3 (5.x) wired to the portal's endpoints, and one upload
// session (both files) driving the progress panel.
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'
import { ApiError } from './api.js'
import { KeptParts, reloadLossBound, resumePlan } from './files.js'
import { sha256File } from './hash.js'
import { ProgressView } from './progress.js'

export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000]
export const CONCURRENCY = 6

function untilAborted(promise, signal) {
  if (!signal) return promise
  return new Promise((resolve, reject) => {
    signal.throwIfAborted()
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    promise.then(resolve, reject)
  })
}

// entries: [{read, uploadUrl, file, plan}] where plan = resumePlan(create answer).
// Every file gets `s3Multipart` before the upload starts, so Uppy takes its
// restore path: listParts, then only the parts S3 does not hold yet.
// `hashOf(entry)` → Promise<hex>; the complete call waits for it.
export function createUppy({ api, entries, hashOf, uploadPartBytes, onPartsKept }) {
  const byData = new Map(entries.map((e) => [e.file, e]))
  const entryOf = (file) => byData.get(file.data)
  const uppy = new Uppy({ id: 'wes-upload', autoProceed: false })
  uppy.use(AwsS3, {
    limit: CONCURRENCY,
    retryDelays: RETRY_DELAYS,
    shouldUseMultipart: true,
    // Uppy passes the file's Blob (our File), not the Uppy file.
    getChunkSize: (data) => byData.get(data).plan.partSize,
    // Only reached if `s3Multipart` were missing; the portal's create is idempotent.
    createMultipartUpload: async (file, signal) => {
      const answer = await api.startUpload(entryOf(file).uploadUrl, file.data, signal)
      return { uploadId: answer.upload_id, key: answer.key }
    },
    // S3's list is the truth about what is kept: parts that reached it after the start answer
    // (or whose 200 the browser never saw) count as kept too.
    listParts: async (file, { signal }) => {
      const parts = await api.listParts(entryOf(file).uploadUrl, signal)
      onPartsKept?.(entryOf(file), parts.map((p) => p.PartNumber))
      return parts
    },
    // The URL's signature covers the part's length (`size`): storage refuses any other body,
    // so a part that would not match fails here with a sentence rather than as a bare 403.
    signPart: async (file, { partNumber, body, signal }) => {
      const signed = await api.signPart(entryOf(file).uploadUrl, partNumber, signal)
      if (body && signed.size !== undefined && body.size !== signed.size) {
        throw new Error(`Part ${partNumber} is ${body.size} bytes here but the portal signed it ` +
          `for ${signed.size}; reload the page and choose the file again.`)
      }
      return { method: signed.method ?? 'PUT', url: signed.url, expires: signed.expires_in }
    },
    completeMultipartUpload: async (file, { parts, signal }) => {
      const entry = entryOf(file)
      const sha256 = await untilAborted(hashOf(entry), signal)
      const body = parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag }))
      try {
        return (await api.complete(entry.uploadUrl, body, sha256, signal)) ?? {}
      } catch (err) {
        // 409: already completed (a retried complete whose first try got
        // through) or aborted; the sample page shows which.
        if (err instanceof ApiError && err.status === 409) return {}
        throw err
      }
    },
    abortMultipartUpload: (file) => api.abort(entryOf(file).uploadUrl),
    ...(uploadPartBytes && { uploadPartBytes }),
  })
  uppy.on('s3-multipart:part-uploaded', (file, part) =>
    onPartsKept?.(entryOf(file), [part.PartNumber]))
  for (const entry of entries) {
    const { file } = entry
    entry.uppyId = uppy.addFile({
      name: file.name,
      type: file.type,
      data: file,
      source: 'wes-portal',
      isRemote: false,
      meta: { read: entry.read },
    })
    uppy.setFileState(entry.uppyId, { s3Multipart: entry.plan.s3Multipart })
  }
  return uppy
}

export function describeError(err) {
  if (err instanceof ApiError) return err.message
  const status = err?.source?.status
  if (err?.message === 'Non 2xx') return `The storage server refused a part (HTTP ${status}).`
  if (err?.message === 'Unknown error' || err instanceof TypeError)
    return 'The connection was lost and retries did not get through.'
  return err?.message || String(err)
}

// One upload session for the files in `entries` ([{read, uploadUrl, name, size, file}]).
// Resolves once uploads are running; reports through the progress panel.
// `doneUrl` (default `sampleUrl`) is opened once every file is stored; a cancel opens `sampleUrl`.
export async function startUploads({ container, api, entries, sampleUrl, doneUrl, navigate, onPrepareFailed }) {
  const controller = new AbortController()
  let uppy = null
  const done = new Set()
  const view = new ProgressView(container, entries, {
    onCancel() {
      view.setState('cancelled', 'Upload cancelled. Opening the sample page, where you can upload the files again…')
      // The sample exists; its page offers to upload the files again.
      setTimeout(() => navigate(sampleUrl), 1500)
      controller.abort()
      if (!uppy) return
      // Uppy aborts the uploads it is running; one that failed has no running
      // uploader any more, so abort that one directly.
      for (const e of entries) if (uppy.getFile(e.uppyId)?.error) api.abort(e.uploadUrl).catch(() => {})
      uppy.cancelAll()
    },
    onRetry() {
      for (const e of entries) if (!done.has(e.read)) view.setFileState(e.read, 'uploading')
      view.setState('uploading')
      uppy?.retryAll()
    },
  })

  try {
    await Promise.all(
      entries.map(async (e) => {
        const answer = await api.startUpload(e.uploadUrl, e.file, controller.signal)
        e.plan = resumePlan(answer, e.file.size)
        e.kept = new KeptParts(e.plan)
        view.setUploaded(e.read, e.plan.resumedBytes)
        view.setKept(e.read, e.kept.bytes)
      }),
    )
  } catch (err) {
    if (controller.signal.aborted) return
    view.setError(`${describeError(err)} Reload the page to try again.`, { retry: false })
    onPrepareFailed?.(err)
    return
  }
  if (controller.signal.aborted) {
    // Cancelled while preparing: nothing runs in Uppy yet.
    for (const e of entries) api.abort(e.uploadUrl).catch(() => {})
    return
  }

  const hashOf = (e) =>
    (e.hash ??= sha256File(e.file, {
      signal: controller.signal,
      onProgress: (n) => view.setHashed(e.read, n),
    }).catch((err) => {
      e.hash = null // a later complete (Retry) starts over
      if (!controller.signal.aborted) view.setHashText(e.read, `SHA-256 failed: ${err.message}`)
      throw err
    }))
  for (const e of entries) hashOf(e).catch(() => {})

  view.setReloadBound(reloadLossBound(entries.map((e) => e.plan), CONCURRENCY))
  const onPartsKept = (e, numbers) => view.setKept(e.read, e.kept.add(numbers))
  uppy = createUppy({ api, entries, hashOf, onPartsKept })
  const readOf = (file) => file.meta.read
  uppy.on('upload-progress', (file, progress) => {
    if (file) view.setUploaded(readOf(file), progress.bytesUploaded)
  })
  uppy.on('upload-success', (file) => {
    const read = readOf(file)
    view.setUploaded(read, file.size)
    view.setFileState(read, 'done')
    done.add(read)
    if (done.size < entries.length) return
    view.setState('verifying')
    setTimeout(() => {
      view.setState('done')
      navigate(doneUrl ?? sampleUrl)
    }, 500)
  })
  uppy.on('upload-error', (file, err) => {
    if (controller.signal.aborted) return
    if (file) view.setFileState(readOf(file), 'error')
    view.setError(`${file?.name ?? 'Upload'}: ${describeError(err)}`)
  })
  for (const e of entries) view.setFileState(e.read, 'uploading')
  view.setState('uploading')
  uppy.upload().catch(() => {}) // failures arrive as upload-error
}
