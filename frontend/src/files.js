// Pure checks on the chosen files, and the mapping from the portal's create
// answer to the state Uppy resumes from.

const MiB = 1024 * 1024

export const FASTQ_SUFFIXES = ['.fastq.gz', '.fq.gz']

export const isFastqGz = (name) =>
  FASTQ_SUFFIXES.some((suffix) => name.toLowerCase().endsWith(suffix))

export const formatExactBytes = (n) => `${n.toLocaleString('en-US')} bytes`

const sameFile = (a, b) =>
  a.name === b.name && a.size === b.size && a.lastModified === b.lastModified

// New-sample form: `{r1?: message, r2?: message}`, empty when both are fine.
export function checkNewSampleFiles(r1, r2) {
  const problems = {}
  for (const [field, file] of [['r1', r1], ['r2', r2]]) {
    const read = field.toUpperCase()
    if (!file) problems[field] = `Choose the ${read} file (.fastq.gz or .fq.gz).`
    else if (!isFastqGz(file.name))
      problems[field] = `${file.name} is not a .fastq.gz or .fq.gz file.`
  }
  if (!problems.r1 && !problems.r2 && sameFile(r1, r2))
    problems.r2 = 'R1 and R2 are the same file: choose the R2 file here.'
  return problems
}

// Resume form: the file chosen must be the one the upload was started with.
export function checkResumeFile(expected, file) {
  const what = `${expected.name} (${formatExactBytes(expected.size)})`
  if (!file) return `Choose ${what} to resume the upload.`
  if (file.name !== expected.name || file.size !== expected.size)
    return `This is not the file you started uploading: expected ${what}`
  return null
}

// How many parts @uppy/aws-s3 5.x cuts a file into for a given chunk size
// (MultipartUploader#initChunks: at least 5 MiB, at most 10,000 parts, one
// part when the file is not larger than 5 MiB).
export function uppyPartCount(size, chunkSize) {
  if (size <= 5 * MiB) return 1
  let partSize = Math.max(chunkSize, 5 * MiB)
  if (Math.floor(size / partSize) > 10_000) partSize = size / 10_000
  return Math.ceil(size / partSize)
}

// Create answer → what Uppy is handed. Uppy, given `s3Multipart`, calls
// listParts and uploads only the parts not listed; `skipped` are those, as far
// as the create answer knows.
export function resumePlan(answer, size) {
  const partSize = answer.part_size
  const partCount = uppyPartCount(size, partSize)
  if (partCount !== answer.part_count)
    throw new Error(
      `The portal's part size (${partSize} bytes, ${answer.part_count} parts) ` +
        `does not match how this page splits the file (${partCount} parts).`,
    )
  const partBytes = (n) => Math.min(partSize, size - (n - 1) * partSize)
  const skipped = [...new Set((answer.parts ?? []).map((p) => p.PartNumber))]
    .filter((n) => Number.isInteger(n) && n >= 1 && n <= partCount)
    .sort((a, b) => a - b)
  return {
    s3Multipart: { uploadId: answer.upload_id, key: answer.key },
    partSize,
    partCount,
    partBytes,
    skipped,
    resumedBytes: skipped.reduce((sum, n) => sum + partBytes(n), 0),
  }
}

// The parts S3 holds for one file (listed on resume, or answered 200 since): the bytes a
// reload keeps. Everything else sent so far is in flight and would be sent again.
export class KeptParts {
  constructor(plan) {
    this.plan = plan
    this.numbers = new Set()
    this.bytes = 0
    this.add(plan.skipped)
  }

  add(numbers) {
    for (const n of numbers) {
      if (!Number.isInteger(n) || n < 1 || n > this.plan.partCount || this.numbers.has(n)) continue
      this.numbers.add(n)
      this.bytes += this.plan.partBytes(n)
    }
    return this.bytes
  }
}

// What a reload can cost: every part in flight, at most `concurrency` of them at once
// across all the session's files.
export const reloadLossBound = (plans, concurrency) =>
  concurrency * Math.max(0, ...plans.map((p) => p.partSize))
