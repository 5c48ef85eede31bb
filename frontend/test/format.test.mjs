import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SpeedMeter, etaSeconds, formatBytes, formatEta, formatSpeed, percent } from '../src/progress.js'

test('formatBytes: binary units, as the portal\'s size filter (common/sizes.py)', () => {
  assert.equal(formatBytes(0), '0 bytes')
  assert.equal(formatBytes(1), '1 byte')
  assert.equal(formatBytes(1_234), '1.2 KiB')
  assert.equal(formatBytes(52_428_800), '50.0 MiB')
  assert.equal(formatBytes(16 * 1024 ** 2), '16.0 MiB')
  assert.equal(formatBytes(12_345_678_901), '11.50 GiB')
  assert.equal(formatBytes(2 * 1024 ** 4), '2.00 TiB')
})

test('formatSpeed: MiB/s, dash when unknown', () => {
  assert.equal(formatSpeed(12.5 * 1024 ** 2), '12.5 MiB/s')
  assert.equal(formatSpeed(0), '0.0 MiB/s')
  assert.equal(formatSpeed(null), '– MiB/s')
  assert.equal(formatSpeed(Infinity), '– MiB/s')
})

test('formatEta: seconds, minutes, hours', () => {
  assert.equal(formatEta(null), '–')
  assert.equal(formatEta(Infinity), '–')
  assert.equal(formatEta(0.2), '1 s')
  assert.equal(formatEta(59), '59 s')
  assert.equal(formatEta(200), '3 min 20 s')
  assert.equal(formatEta(3600 + 5 * 60 + 7), '1 h 05 min')
  assert.equal(etaSeconds(100e6, 10e6), 10)
  assert.equal(etaSeconds(100e6, 0), null)
  assert.equal(etaSeconds(100e6, null), null)
})

test('percent: integer 0-100, 100 only when complete', () => {
  assert.equal(percent(0, 100), 0)
  assert.equal(percent(999, 1000), 99)
  assert.equal(percent(1000, 1000), 100)
  assert.equal(percent(2000, 1000), 100)
  assert.equal(percent(0, 0), 100)
})

test('SpeedMeter: rate over a sliding window', () => {
  const meter = new SpeedMeter(10_000)
  assert.equal(meter.rate(), null)
  meter.add(50e6, 0) // resumed bytes do not count as speed
  assert.equal(meter.rate(), null)
  meter.add(60e6, 1000)
  assert.equal(meter.rate(), 10e6)
  for (let t = 2000; t <= 30_000; t += 1000) meter.add(60e6 + (t - 1000) * 2000, t)
  assert.equal(meter.rate(), 2e6) // old samples dropped, recent speed only
  meter.add(0, 31_000) // a part restarted: never negative
  assert.equal(meter.rate(), 0)
})
