import { describe, expect, it } from 'vitest';
import { explainDriverError } from '../../src/bridge/sink-runner.js';
import { redactUrl } from '../../src/config/redact.js';

describe('driver messages in sink log lines (issue 18 §4)', () => {
  it("wraps ioredis' and other drivers' messages in the cause an operator can act on, keeping the driver's words", () => {
    expect(explainDriverError(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(
      "the connection to the server is down (driver: Stream isn't writeable and enableOfflineQueue options is false)",
    );
    expect(explainDriverError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe(
      'connection refused (is the server running, and is this its address?) (driver: connect ECONNREFUSED 127.0.0.1:6379)',
    );
    expect(explainDriverError(new Error('WRONGPASS invalid username-password pair'))).toMatch(/^the server refused the credentials/);
    expect(explainDriverError(new Error('something new'))).toBe('something new');
  });

  it('keeps passwords in engine URLs out of log lines', () => {
    expect(redactUrl('redis://app:hunter2@10.0.0.5:6379/0')).toBe('redis://app:<redacted>@10.0.0.5:6379/0');
    expect(redactUrl('redis://10.0.0.5:6379')).toBe('redis://10.0.0.5:6379');
  });
});
