/**
 * The renderer's Content-Security-Policy, sent as a response header by whatever serves the
 * renderer (the `app://` protocol handler here; the browser-mode host uses the same string).
 * No `unsafe-eval`, no remote origin: scripts, fonts and images come from the app itself.
 * `style-src 'unsafe-inline'` is needed by Fluent UI's CSS-in-JS (Griffel inserts <style>
 * elements at run time); script injection stays impossible.
 * This module imports nothing from `electron`, so the browser-mode host may import it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "worker-src 'self'",
].join('; ');

/** Headers every renderer response carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
};
