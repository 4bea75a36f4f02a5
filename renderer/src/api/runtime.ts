/**
 * The renderer's one way out: `window.runtime`, from the Electron preload, or — in browser
 * mode, where no preload ran — the WebSocket bridge client.
 */
import type { RuntimeApi } from '../../../protocol/desktop-api.ts';
import { bridgeUrl, createBridgeClient } from './bridge-client.ts';

declare global {
  interface Window {
    runtime?: RuntimeApi;
  }
}

let instance: RuntimeApi | null = null;

export function getRuntime(): RuntimeApi {
  if (!instance) instance = window.runtime ?? createBridgeClient({ url: bridgeUrl(window.location) });
  return instance;
}
