// Whole-file SHA-256, read sequentially in 8 MiB slices while the upload runs.
import { createSHA256 } from 'hash-wasm'

export const HASH_SLICE = 8 * 1024 * 1024

export async function sha256File(
  file,
  { onProgress = () => {}, signal, sliceSize = HASH_SLICE } = {},
) {
  const hasher = await createSHA256()
  hasher.init()
  for (let offset = 0; offset < file.size; offset += sliceSize) {
    signal?.throwIfAborted()
    const slice = file.slice(offset, offset + sliceSize)
    hasher.update(new Uint8Array(await slice.arrayBuffer()))
    onProgress(Math.min(offset + sliceSize, file.size), file.size)
  }
  signal?.throwIfAborted()
  return hasher.digest('hex')
}
