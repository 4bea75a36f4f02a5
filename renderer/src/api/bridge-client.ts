/**
 * Browser mode: `RuntimeApi` over the local host's WebSocket bridge (message format in
 * protocol/desktop-api.ts). The per-launch token comes from the page address (`?token=` or
 * `#token=`). Calls made while the socket is down fail at once with `HostUnavailable`; the
 * client reconnects with backoff and, once back, reloads the state through `stateChanged`
 * listeners by asking `getState`.
 */
import {
  BRIDGE_PATH,
  EVENT_NAMES,
  METHOD_NAMES,
  isDesktopErrorEnvelope,
  isEventName,
  type DesktopErrorEnvelope,
  type EventName,
  type MethodName,
} from '../../../protocol/desktop-api-names.ts';
import type { BridgeServerMessage, EventPayload, RuntimeApi } from '../../../protocol/desktop-api.ts';

/** The token in `?token=…` or `#token=…` (or `#…&token=…`), or null. */
export function readBridgeToken(location: Pick<Location, 'search' | 'hash'>): string | null {
  const fromQuery = new URLSearchParams(location.search).get('token');
  if (fromQuery) return fromQuery;
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  return fromHash || null;
}

export function bridgeUrl(location: Pick<Location, 'protocol' | 'host' | 'search' | 'hash'>): string {
  const token = readBridgeToken(location) ?? '';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${BRIDGE_PATH}?token=${encodeURIComponent(token)}`;
}

export interface BridgeClientOptions {
  url: string;
  /** For tests. */
  WebSocketImpl?: typeof WebSocket;
  /** Milliseconds before a call gives up (the host answers every call; this only guards a hang). */
  callTimeoutMs?: number;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: DesktopErrorEnvelope) => void;
  timer: ReturnType<typeof setTimeout>;
}

const hostUnavailable = (): DesktopErrorEnvelope => ({
  code: 'HostUnavailable',
  message: 'Lost the connection to the Machine Runtime host.',
});

export function createBridgeClient(options: BridgeClientOptions): RuntimeApi & { close(): void } {
  const Impl = options.WebSocketImpl ?? WebSocket;
  const callTimeoutMs = options.callTimeoutMs ?? 10 * 60_000;
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>(EVENT_NAMES.map((name) => [name, new Set()]));
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let socket: WebSocket | null = null;
  let opened: Promise<void> | null = null;
  let closed = false;
  let retries = 0;
  let everConnected = false;

  const emit = (event: EventName, payload: unknown) => {
    for (const listener of listeners.get(event) ?? []) {
      try {
        listener(payload);
      } catch (error) {
        console.error(`listener for ${event} failed`, error);
      }
    }
  };

  const failAll = () => {
    for (const [id, call] of pending) {
      clearTimeout(call.timer);
      call.reject(hostUnavailable());
      pending.delete(id);
    }
  };

  const connect = (): Promise<void> => {
    if (opened) return opened;
    opened = new Promise<void>((resolve, reject) => {
      const ws = new Impl(options.url);
      socket = ws;
      ws.onopen = () => {
        retries = 0;
        const reconnected = everConnected;
        everConnected = true;
        resolve();
        if (reconnected) {
          void call('getState', undefined).then(
            (state) => emit('stateChanged', state),
            () => {},
          );
        }
      };
      ws.onmessage = (message) => {
        let data: BridgeServerMessage;
        try {
          data = JSON.parse(String(message.data)) as BridgeServerMessage;
        } catch {
          return;
        }
        if ('event' in data) {
          if (isEventName(data.event)) emit(data.event, data.payload);
          return;
        }
        const call = pending.get(data.id);
        if (!call) return;
        pending.delete(data.id);
        clearTimeout(call.timer);
        if (data.error !== undefined) {
          call.reject(isDesktopErrorEnvelope(data.error) ? data.error : { code: 'InternalError', message: 'The host sent an unreadable error.' });
        } else call.resolve(data.result);
      };
      ws.onclose = () => {
        socket = null;
        opened = null;
        failAll();
        reject(hostUnavailable());
        if (!closed) {
          const delay = Math.min(10_000, 250 * 2 ** retries) * (0.5 + Math.random() / 2);
          retries += 1;
          setTimeout(() => {
            if (!closed) connect().catch(() => {});
          }, delay);
        }
      };
      ws.onerror = () => {
        // onclose follows and does the work.
      };
    });
    return opened;
  };

  const call = async (method: MethodName, params: unknown): Promise<unknown> => {
    if (closed) throw hostUnavailable();
    await connect();
    const ws = socket;
    if (!ws || ws.readyState !== Impl.OPEN) throw hostUnavailable();
    const id = nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject({ code: 'HostUnavailable', message: 'Machine Runtime did not answer in time.' });
      }, callTimeoutMs);
      pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
    });
  };

  const api: Record<string, unknown> = {};
  for (const method of METHOD_NAMES) api[method] = (params?: unknown) => call(method, params);
  api.on = <E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) => {
    if (!isEventName(event)) throw new TypeError(`Unknown event: ${String(event)}`);
    const set = listeners.get(event)!;
    // A wrapper per subscription: subscribing one function twice gives two independent unsubscribes.
    const entry = (payload: unknown) => listener(payload as EventPayload<E>);
    set.add(entry);
    void connect().catch(() => {});
    return () => {
      set.delete(entry);
    };
  };
  api.close = () => {
    closed = true;
    socket?.close();
    failAll();
  };
  return api as unknown as RuntimeApi & { close(): void };
}
