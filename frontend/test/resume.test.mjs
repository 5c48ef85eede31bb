// The create answer → Uppy state mapping, checked both as pure logic and by
// running the real @uppy/aws-s3 plugin in Node against a fake portal and a
// fake S3 (`uploadPartBytes`), to see which parts it really skips.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { KeptParts, reloadLossBound, resumePlan, uppyPartCount } from '../src/files.js'
import { CONCURRENCY, RETRY_DELAYS, createUppy } from '../src/uploader.js'

const MiB = 1024 * 1024
const PART = 5 * MiB
const SIZE = 3 * PART + 1234 // 4 parts

const answer = (parts) => ({
  upload_id: 'up-1',
  key: 'file-7',
  part_size: PART,
  part_count: 4,
  parts: parts.map((n) => ({ PartNumber: n, Size: n === 4 ? 1234 : PART, ETag: `"etag-${n}"` })),
})

test('resumePlan: Uppy state and the parts that will be skipped', () => {
  const plan = resumePlan(answer([2, 1]), SIZE)
  assert.deepEqual(plan.s3Multipart, { uploadId: 'up-1', key: 'file-7' })
  assert.equal(plan.partSize, PART)
  assert.deepEqual(plan.skipped, [1, 2])
  assert.equal(plan.resumedBytes, 2 * PART)
  assert.deepEqual(resumePlan(answer([4]), SIZE).skipped, [4])
  assert.equal(resumePlan(answer([4]), SIZE).resumedBytes, 1234)
  assert.deepEqual(resumePlan(answer([]), SIZE).skipped, [])
})

test('resumePlan refuses a part size Uppy would split differently', () => {
  assert.equal(uppyPartCount(SIZE, PART), 4)
  assert.equal(uppyPartCount(4 * MiB, 1 * MiB), 1) // Uppy: at least 5 MiB per part
  assert.equal(uppyPartCount(100_000 * PART, PART), 10_000)
  const small = { ...answer([]), part_size: MiB, part_count: Math.ceil(SIZE / MiB) }
  assert.throws(() => resumePlan(small, SIZE), /does not match/)
})

function fakePortal(storedParts, { signedSize = (n) => (n === 4 ? 1234 : PART) } = {}) {
  const calls = []
  const api = {
    async startUpload() { throw new Error('Uppy must not create a new multipart upload') },
    async listParts(url) {
      calls.push(['list', url])
      return storedParts.map((n) => ({ PartNumber: n, Size: PART, ETag: `"etag-${n}"` }))
    },
    async signPart(url, n) {
      calls.push(['sign', url, n])
      return { url: `https://s3.test/bucket/obj?partNumber=${n}`, method: 'PUT', expires_in: 600,
        size: signedSize(n) }
    },
    async complete(url, parts, sha256) {
      calls.push(['complete', url, parts, sha256])
      return { file_status: 'verifying', sample_status: 'uploading' }
    },
    async abort(url) {
      calls.push(['abort', url])
      return { file_status: 'cancelled' }
    },
  }
  return { api, calls }
}

function fakeS3({ hang = false } = {}) {
  const puts = []
  const uploadPartBytes = ({ signature, body, onProgress, onComplete, signal }) => {
    const n = Number(new URL(signature.url).searchParams.get('partNumber'))
    puts.push({ n, size: body.size, method: signature.method, expires: signature.expires })
    if (hang) {
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new DOMException('Aborted', 'AbortError'))))
    }
    onProgress({ loaded: body.size, lengthComputable: true })
    onComplete(`"etag-${n}"`)
    return Promise.resolve({ ETag: `"etag-${n}"` })
  }
  return { puts, uploadPartBytes }
}

function makeEntry(stored) {
  const bytes = new Uint8Array(SIZE).map((_, i) => i % 253)
  const file = new File([bytes], 'S1_R1.fastq.gz', { lastModified: 1 })
  const entry = { read: 1, uploadUrl: '/labs/l/samples/1/files/2/upload/', file, plan: resumePlan(answer(stored), SIZE) }
  const sha = createHash('sha256').update(bytes).digest('hex')
  return { entry, sha }
}

test('Uppy resumes: lists parts, uploads only the missing ones, completes with all', async () => {
  const stored = [1, 2]
  const { entry, sha } = makeEntry(stored)
  const { api, calls } = fakePortal(stored)
  const s3 = fakeS3()
  const uppy = createUppy({ api, entries: [entry], hashOf: async () => sha, uploadPartBytes: s3.uploadPartBytes })
  assert.equal(uppy.getPlugin('AwsS3Multipart').opts.limit, CONCURRENCY)
  assert.deepEqual(uppy.getPlugin('AwsS3Multipart').opts.retryDelays, RETRY_DELAYS)
  const progress = []
  uppy.on('upload-progress', (_, p) => progress.push(p.bytesUploaded))
  const result = await uppy.upload()

  assert.equal(result.successful.length, 1)
  assert.deepEqual(s3.puts.map((p) => [p.n, p.size]), [[3, PART], [4, 1234]])
  assert.ok(s3.puts.every((p) => p.method === 'PUT' && p.expires === 600))
  assert.deepEqual(calls.filter((c) => c[0] === 'sign').map((c) => c[2]), [3, 4])
  assert.equal(calls[0][0], 'list')
  const complete = calls.find((c) => c[0] === 'complete')
  assert.deepEqual(complete[2], [1, 2, 3, 4].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"` })))
  assert.equal(complete[3], sha)
  assert.equal(progress.at(-1), SIZE)
  assert.ok(!calls.some((c) => c[0] === 'abort'))
})

test('complete waits for the hash; a 409 on complete counts as done', async () => {
  const { entry } = makeEntry([])
  const { api, calls } = fakePortal([])
  const { ApiError } = await import('../src/api.js')
  api.complete = async (...args) => {
    calls.push(['complete', ...args])
    throw new ApiError(409, { error: 'already completed' }, 'already completed')
  }
  let release
  const hash = new Promise((resolve) => { release = resolve })
  const s3 = fakeS3()
  const uppy = createUppy({ api, entries: [entry], hashOf: () => hash, uploadPartBytes: s3.uploadPartBytes })
  const done = uppy.upload()
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(s3.puts.length, 4)
  assert.ok(!calls.some((c) => c[0] === 'complete'), 'complete must wait for the SHA-256')
  release('f'.repeat(64))
  const result = await done
  assert.equal(result.successful.length, 1)
  assert.equal(calls.find((c) => c[0] === 'complete')[3], 'f'.repeat(64))
})

test('cancel through Uppy calls abortMultipartUpload (DELETE upload_url)', async () => {
  const { entry } = makeEntry([1])
  const { api, calls } = fakePortal([1])
  const s3 = fakeS3({ hang: true })
  const uppy = createUppy({ api, entries: [entry], hashOf: async () => 'a'.repeat(64), uploadPartBytes: s3.uploadPartBytes })
  uppy.upload()
  await new Promise((r) => setTimeout(r, 50))
  assert.ok(s3.puts.length > 0)
  uppy.cancelAll()
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(calls.filter((c) => c[0] === 'abort'), [['abort', entry.uploadUrl]])
  assert.ok(!calls.some((c) => c[0] === 'complete'))
})

test('a part whose PUT drops is retried (retryDelays) and the upload finishes', async () => {
  const { entry, sha } = makeEntry([1, 2, 3])
  const { api, calls } = fakePortal([1, 2, 3])
  const s3 = fakeS3()
  let failures = 0
  const flaky = (args) => {
    if (failures++ === 0) {
      const err = new Error('Unknown error')
      err.source = { status: 0 } // what XHR reports when the network drops
      return Promise.reject(err)
    }
    return s3.uploadPartBytes(args)
  }
  const uppy = createUppy({ api, entries: [entry], hashOf: async () => sha, uploadPartBytes: flaky })
  const result = await uppy.upload()
  assert.equal(result.successful.length, 1)
  assert.deepEqual(s3.puts.map((p) => p.n), [4])
  assert.deepEqual(calls.filter((c) => c[0] === 'sign').map((c) => c[2]), [4, 4])
})

test('KeptParts: the listed parts, then each acknowledged part, counted once', () => {
  const kept = new KeptParts(resumePlan(answer([1]), SIZE))
  assert.equal(kept.bytes, PART)
  assert.equal(kept.add([4, 4, 1, 9, 0]), PART + 1234) // repeats and unknown numbers ignored
  assert.equal(kept.add([2, 3]), SIZE)
  assert.equal(reloadLossBound([resumePlan(answer([]), SIZE), { partSize: 16 * MiB }], CONCURRENCY),
    6 * 16 * MiB)
})

test('Uppy reports every part S3 holds: listed on resume and acknowledged since', async () => {
  const { entry, sha } = makeEntry([2])
  const { api } = fakePortal([1, 2]) // part 1 reached S3 after the start answer
  const s3 = fakeS3()
  const reported = []
  const uppy = createUppy({ api, entries: [entry], hashOf: async () => sha,
    uploadPartBytes: s3.uploadPartBytes, onPartsKept: (e, numbers) => reported.push(...numbers) })
  await uppy.upload()
  assert.deepEqual(s3.puts.map((p) => p.n), [3, 4])
  assert.deepEqual(reported.slice(0, 2), [1, 2], 'the list comes first')
  assert.deepEqual([...reported].sort(), [1, 2, 3, 4])
})

test('a part whose length is not the length signed is never sent', async () => {
  const { entry, sha } = makeEntry([1, 2])
  const { api } = fakePortal([1, 2], { signedSize: () => PART })
  const s3 = fakeS3()
  const uppy = createUppy({ api, entries: [entry], hashOf: async () => sha, uploadPartBytes: s3.uploadPartBytes })
  uppy.getPlugin('AwsS3Multipart').setOptions({ retryDelays: [] })
  const errors = []
  uppy.on('upload-error', (_, err) => errors.push(err.message))
  await uppy.upload()
  assert.deepEqual(s3.puts.map((p) => p.n), [3], 'part 4 (1,234 bytes, signed for 5 MiB) not sent')
  assert.match(errors[0], /Part 4 is 1234 bytes here but the portal signed it for 5242880/)
})
