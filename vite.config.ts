// The renderer: renderer/ → dist/renderer (served by the app:// protocol in Electron and by the
// browser-mode host). Relative asset URLs so it works under either origin. The built page also
// carries its CSP as a <meta> tag (defence in depth; the hosts send it as a header too). The dev
// server does not: React's fast refresh needs an inline script.
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { CONTENT_SECURITY_POLICY } from './electron/main/content-security-policy.ts';

const root = fileURLToPath(new URL('./renderer', import.meta.url));

function cspMetaTag(): Plugin {
  // frame-ancestors is ignored (with a warning) in a <meta> policy; the header carries it.
  const policy = CONTENT_SECURITY_POLICY.split('; ')
    .filter((directive) => !directive.startsWith('frame-ancestors'))
    .join('; ');
  return {
    name: 'machine-runtime-csp-meta',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' }],
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [react(), cspMetaTag()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // ES2021: class static blocks are lowered, which keeps the bundle readable by Electronegativity's parser.
    target: ['es2021', 'chrome120'],
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
});
