// The portal's upload API (docs/upload-api.md). JSON in and out, CSRF header on
// POST/DELETE. Only portal URLs go through here; S3 part URLs never do.

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.body = body
  }
}

// `{"errors": {"field": ["msg", ...]}}` → `[{field, messages}]`. Also accepts
// Django's `get_json_data()` shape (`[{"message", "code"}]`).
export function extractErrors(body) {
  const errors = body && typeof body === 'object' ? body.errors : null
  if (!errors || typeof errors !== 'object') return []
  return Object.entries(errors).map(([field, list]) => ({
    field,
    messages: (Array.isArray(list) ? list : [list]).map((m) =>
      typeof m === 'string' ? m : String(m?.message ?? m),
    ),
  }))
}

export function errorMessage(status, body) {
  const messages = extractErrors(body).flatMap(({ field, messages }) =>
    messages.map((m) => (field === '__all__' ? m : `${field}: ${m}`)),
  )
  if (messages.length) return messages.join(' ')
  if (typeof body?.error === 'string') return body.error
  if (typeof body?.detail === 'string') return body.detail
  return `The portal answered HTTP ${status}.`
}

export const API_RETRY_DELAYS = [1000, 3000, 5000]

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted()
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        reject(signal.reason)
      },
      { once: true },
    )
  })
}

export function createApi({
  csrfToken,
  fetch = globalThis.fetch,
  retryDelays = API_RETRY_DELAYS,
}) {
  // Idempotent calls (everything but creating the sample) are retried on a
  // network failure or a 502/503/504, so a short drop does not end the upload.
  async function request(method, url, { json, form, signal, retry = true } = {}) {
    const headers = { Accept: 'application/json' }
    if (method !== 'GET') headers['X-CSRFToken'] = csrfToken
    let body = form
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(json)
    }
    for (let attempt = 0; ; attempt++) {
      const canRetry = retry && attempt < retryDelays.length
      let response
      try {
        response = await fetch(url, {
          method,
          headers,
          body,
          signal,
          credentials: 'same-origin',
        })
      } catch (err) {
        if (signal?.aborted || !canRetry) throw err
        await sleep(retryDelays[attempt], signal)
        continue
      }
      if (canRetry && [502, 503, 504].includes(response.status)) {
        await sleep(retryDelays[attempt], signal)
        continue
      }
      const data = await response.json().catch(() => null)
      if (!response.ok) {
        throw new ApiError(response.status, data, errorMessage(response.status, data))
      }
      return data
    }
  }

  return {
    // §1: form fields without the file bytes. Not retried: not idempotent.
    createSample: (url, formData) =>
      request('POST', url, { form: formData, retry: false }),
    // §2: start the multipart upload, or get the one in progress (resume).
    startUpload: (uploadUrl, file, signal) =>
      request('POST', uploadUrl, {
        json: { name: file.name, size: file.size, last_modified: file.lastModified },
        signal,
      }),
    listParts: async (uploadUrl, signal) =>
      (await request('GET', `${uploadUrl}parts/`, { signal })).parts,
    signPart: (uploadUrl, partNumber, signal) =>
      request('POST', `${uploadUrl}parts/${partNumber}/`, { signal }),
    complete: (uploadUrl, parts, sha256, signal) =>
      request('POST', `${uploadUrl}complete/`, { json: { parts, sha256 }, signal }),
    abort: (uploadUrl) => request('DELETE', uploadUrl),
  }
}
