import { describe, expect, it } from 'vitest';
import { AppendFigures } from '../../src/cluster/figures.js';

describe('cluster append figures', () => {
  it('give nearest-rank percentiles of the recent latencies, null before any append', () => {
    const figures = new AppendFigures();
    expect(figures.percentile(50)).toBeNull();
    for (let ms = 100; ms >= 1; ms--) figures.appended(ms);
    expect(figures.count).toBe(100);
    expect(figures.percentile(50)).toBe(50);
    expect(figures.percentile(99)).toBe(99);
    expect(figures.percentile(100)).toBe(100);
  });

  it('keep only the last 4096 latencies and tell observers of each', () => {
    const figures = new AppendFigures();
    const heard: number[] = [];
    figures.observe((ms) => heard.push(ms));
    for (let i = 0; i < 4096; i++) figures.appended(1000);
    for (let i = 0; i < 4096; i++) figures.appended(2);
    expect(figures.percentile(99)).toBe(2);
    expect(heard.length).toBe(8192);
  });
});
