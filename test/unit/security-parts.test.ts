import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Admission } from '../../src/connection/admission.js';
import { RateLimit } from '../../src/connection/rate-limit.js';
import { exceedsTopicLimits } from '../../src/protocol/topic.js';
import { looksLikeJwt } from '../../src/auth/jwt.js';

describe('RateLimit', () => {
  // The clock stands still unless a test moves it: a loaded machine cannot refill the bucket
  beforeEach(() => vi.useFakeTimers({ toFake: ['performance'] }));
  afterEach(() => vi.useRealTimers());

  it('allows a one-second burst, then asks for a pause proportional to the excess', () => {
    const r = new RateLimit(10, 0);
    for (let i = 0; i < 10; i++) expect(r.take(100)).toBe(0);
    expect(r.take(100)).toBe(100);
    vi.advanceTimersByTime(150);
    expect(r.take(100)).toBe(50); // 1.5 messages refilled, 2 taken
  });

  it('limits bytes independently of messages', () => {
    const r = new RateLimit(0, 1000);
    expect(r.take(1000)).toBe(0);
    expect(r.take(500)).toBeGreaterThanOrEqual(499);
  });
});

describe('Admission', () => {
  it('counts per address and in total, and frees slots', () => {
    const a = new Admission(3, 2);
    expect([a.add('1.1.1.1'), a.add('1.1.1.1'), a.add('1.1.1.1')]).toEqual([true, true, false]);
    expect(a.add('2.2.2.2')).toBe(true);
    expect(a.add('3.3.3.3')).toBe(false); // total
    a.delete('1.1.1.1');
    expect(a.add('1.1.1.1')).toBe(true);
    expect(a.refused).toBe(2);
    expect(a.size).toBe(3);
  });

  it('0 means no limit', () => {
    const a = new Admission(0, 0);
    for (let i = 0; i < 1000; i++) expect(a.add('x')).toBe(true);
  });
});

describe('topic limits', () => {
  it('counts UTF-8 bytes and levels', () => {
    expect(exceedsTopicLimits('a/b/c', 5, 3)).toBe(false);
    expect(exceedsTopicLimits('a/b/c/d', 100, 3)).toBe(true);
    expect(exceedsTopicLimits('ééé', 5, 3)).toBe(true); // 6 bytes
    expect(exceedsTopicLimits('/'.repeat(200), 1000, 128)).toBe(true);
  });
});

describe('looksLikeJwt', () => {
  it('accepts three base64url parts only', () => {
    expect(looksLikeJwt(Buffer.from('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_'))).toBe(true);
    expect(looksLikeJwt(Buffer.from('secret'))).toBe(false);
    expect(looksLikeJwt(Buffer.from('a.b'))).toBe(false);
    expect(looksLikeJwt(undefined)).toBe(false);
  });
});
