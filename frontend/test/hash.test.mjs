import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { sha256File } from '../src/hash.js'

test('sha256File reads sequential slices and matches node:crypto', async () => {
  const bytes = new Uint8Array(2_500_001).map((_, i) => (i * 31) % 251)
  const blob = new Blob([bytes])
  const seen = []
  const hex = await sha256File(blob, { sliceSize: 1_000_000, onProgress: (n, total) => seen.push([n, total]) })
  assert.equal(hex, createHash('sha256').update(bytes).digest('hex'))
  assert.deepEqual(seen, [[1_000_000, 2_500_001], [2_000_000, 2_500_001], [2_500_001, 2_500_001]])
})

test('sha256File stops when aborted', async () => {
  const controller = new AbortController()
  controller.abort()
  await assert.rejects(sha256File(new Blob(['x']), { signal: controller.signal }), { name: 'AbortError' })
})
