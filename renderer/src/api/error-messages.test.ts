// Every failure the screens show names the problem in a sentence, never a bare code.
import { describe, expect, it } from 'vitest';
import { describeError, errorCode } from './error-messages.ts';

describe('error messages', () => {
  it('names the common problems', () => {
    expect(describeError({ code: 'IncorrectGroupPassword', message: 'x' })).toBe('The group password is incorrect.');
    expect(describeError({ code: 'GroupFull', message: 'x' })).toMatch(/full.*50 machines/);
    expect(describeError({ code: 'GroupNotEmpty', message: 'x' })).toMatch(/still has machines/);
    expect(describeError({ code: 'NameTaken', message: 'x' })).toMatch(/already taken/);
    expect(describeError({ code: 'Forbidden', message: 'x' })).toMatch(/not allowed/);
    expect(describeError({ code: 'Unreachable', message: 'x' })).toMatch(/cannot be reached/);
    expect(describeError({ code: 'RunNotQueued', message: 'x' })).toMatch(/no longer waiting in the queue/);
  });

  it('tells how long to wait when rate limited', () => {
    expect(describeError({ code: 'RateLimited', message: 'x', retryAfter: 42 })).toBe('Too many attempts. Try again in 42 seconds.');
    expect(describeError({ code: 'RateLimited', message: 'x', retryAfter: 600 })).toBe('Too many attempts. Try again in 10 minutes.');
    expect(describeError({ code: 'RateLimited', message: 'x' })).toMatch(/Wait a moment/);
  });

  it('falls back to the message for codes it has no sentence for, and to InternalError for junk', () => {
    expect(describeError({ code: 'StaleAttempt', message: 'The report belongs to an earlier attempt.' })).toBe('The report belongs to an earlier attempt.');
    expect(errorCode(new Error('boom'))).toBe('InternalError');
    expect(errorCode('nope')).toBe('InternalError');
  });
});
