import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ApiError, createApi, errorMessage, extractErrors } from '../src/api.js'

test('extractErrors: field lists, __all__, Django get_json_data shape', () => {
  const body = {
    errors: {
      name: ['This field is required.'],
      r1: ['Not a FASTQ file.', 'Too small.'],
      __all__: ['A sample with this name exists.'],
      consent: [{ message: 'Consent is required.', code: 'required' }],
    },
  }
  assert.deepEqual(extractErrors(body), [
    { field: 'name', messages: ['This field is required.'] },
    { field: 'r1', messages: ['Not a FASTQ file.', 'Too small.'] },
    { field: '__all__', messages: ['A sample with this name exists.'] },
    { field: 'consent', messages: ['Consent is required.'] },
  ])
  assert.deepEqual(extractErrors(null), [])
  assert.deepEqual(extractErrors({ detail: 'x' }), [])
  assert.equal(errorMessage(400, { errors: { __all__: ['Bad.'], size: ['Wrong size.'] } }), 'Bad. size: Wrong size.')
  assert.equal(errorMessage(403, { detail: 'CSRF failed.' }), 'CSRF failed.')
  assert.equal(errorMessage(500, null), 'The portal answered HTTP 500.')
})

function fakeFetch(answers) {
  const calls = []
  const fetch = async (url, init) => {
    calls.push({ url, ...init })
    const next = answers.shift()
    if (next instanceof Error) throw next
    return new Response(JSON.stringify(next.body), { status: next.status })
  }
  return { fetch, calls }
}

test('CSRF header on POST and DELETE, not on GET; JSON bodies', async () => {
  const { fetch, calls } = fakeFetch([
    { status: 200, body: { upload_id: 'u', key: 'k', part_size: 8, part_count: 1, parts: [] } },
    { status: 200, body: { parts: [{ PartNumber: 1, Size: 8, ETag: '"e"' }] } },
    { status: 200, body: { url: 'https://s3.example/p1', method: 'PUT', expires_in: 600 } },
    { status: 200, body: { file_status: 'verifying' } },
    { status: 200, body: { file_status: 'cancelled' } },
  ])
  const api = createApi({ csrfToken: 'tok', fetch })
  const up = '/labs/x/samples/1/files/2/upload/'
  await api.startUpload(up, { name: 'a.fq.gz', size: 8, lastModified: 5 })
  assert.deepEqual(await api.listParts(up), [{ PartNumber: 1, Size: 8, ETag: '"e"' }])
  await api.signPart(up, 3)
  await api.complete(up, [{ PartNumber: 1, ETag: '"e"' }], 'ab'.repeat(32))
  await api.abort(up)
  assert.deepEqual(
    calls.map((c) => [c.method, c.url, c.headers['X-CSRFToken']]),
    [
      ['POST', up, 'tok'],
      ['GET', `${up}parts/`, undefined],
      ['POST', `${up}parts/3/`, 'tok'],
      ['POST', `${up}complete/`, 'tok'],
      ['DELETE', up, 'tok'],
    ],
  )
  assert.deepEqual(JSON.parse(calls[0].body), { name: 'a.fq.gz', size: 8, last_modified: 5 })
  assert.deepEqual(JSON.parse(calls[3].body), { parts: [{ PartNumber: 1, ETag: '"e"' }], sha256: 'ab'.repeat(32) })
  assert.ok(calls.every((c) => c.headers.Accept === 'application/json' && c.credentials === 'same-origin'))
})

test('400 becomes an ApiError carrying the body', async () => {
  const { fetch } = fakeFetch([{ status: 400, body: { errors: { r1: ['Bad name.'] } } }])
  const api = createApi({ csrfToken: 't', fetch })
  await assert.rejects(api.createSample('/labs/x/samples/new/', new FormData()), (err) => {
    assert.ok(err instanceof ApiError)
    assert.equal(err.status, 400)
    assert.deepEqual(extractErrors(err.body), [{ field: 'r1', messages: ['Bad name.'] }])
    return true
  })
})

test('idempotent calls retry a network drop; creating the sample does not', async () => {
  const drop = () => new TypeError('fetch failed')
  const { fetch, calls } = fakeFetch([drop(), { status: 503, body: null }, { status: 200, body: { parts: [] } }])
  const api = createApi({ csrfToken: 't', fetch, retryDelays: [0, 0, 0] })
  assert.deepEqual(await api.listParts('/u/'), [])
  assert.equal(calls.length, 3)

  const second = fakeFetch([drop()])
  const api2 = createApi({ csrfToken: 't', fetch: second.fetch, retryDelays: [0, 0, 0] })
  await assert.rejects(api2.createSample('/new/', new FormData()), TypeError)
  assert.equal(second.calls.length, 1)
})
