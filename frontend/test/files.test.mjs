import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkNewSampleFiles, checkResumeFile, formatExactBytes, isFastqGz } from '../src/files.js'

const file = (name, size = 10, lastModified = 1) => ({ name, size, lastModified })

test('isFastqGz accepts .fastq.gz and .fq.gz only', () => {
  for (const ok of ['S1_R1.fastq.gz', 'a.fq.gz', 'B.FASTQ.GZ']) assert.ok(isFastqGz(ok), ok)
  for (const bad of ['S1_R1.fastq', 'a.gz', 'a.fq.gz.txt', 'fastq.gz.zip']) assert.ok(!isFastqGz(bad), bad)
})

test('new sample: both files required, right suffix, not the same file', () => {
  assert.deepEqual(checkNewSampleFiles(file('a_R1.fq.gz'), file('a_R2.fq.gz')), {})
  const missing = checkNewSampleFiles(undefined, undefined)
  assert.match(missing.r1, /Choose the R1 file/)
  assert.match(missing.r2, /Choose the R2 file/)
  const wrong = checkNewSampleFiles(file('a_R1.bam'), file('a_R2.fastq.gz'))
  assert.equal(wrong.r1, 'a_R1.bam is not a .fastq.gz or .fq.gz file.')
  assert.equal(wrong.r2, undefined)
  const same = checkNewSampleFiles(file('a.fq.gz'), file('a.fq.gz'))
  assert.deepEqual(Object.keys(same), ['r2'])
  assert.match(same.r2, /same file/)
  // Same name but different content (size) is two files.
  assert.deepEqual(checkNewSampleFiles(file('a.fq.gz', 1), file('a.fq.gz', 2)), {})
})

test('resume: the chosen file must match name and size', () => {
  const expected = { read: 1, name: 'S1_R1.fastq.gz', size: 52_428_800 }
  assert.equal(formatExactBytes(52_428_800), '52,428,800 bytes')
  assert.equal(checkResumeFile(expected, file('S1_R1.fastq.gz', 52_428_800)), null)
  const message =
    'This is not the file you started uploading: expected S1_R1.fastq.gz (52,428,800 bytes)'
  assert.equal(checkResumeFile(expected, file('S1_R2.fastq.gz', 52_428_800)), message)
  assert.equal(checkResumeFile(expected, file('S1_R1.fastq.gz', 52_428_799)), message)
  assert.match(checkResumeFile(expected, undefined), /^Choose S1_R1\.fastq\.gz \(52,428,800 bytes\)/)
})
