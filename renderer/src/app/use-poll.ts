/**
 * Loads something now, again every few seconds while `enabled`, and on `refresh()`: what the run
 * queue and the machine's runs use to stay live. Calls never overlap, and a result that arrives
 * after the component is gone is dropped.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { describeError } from '../api/error-messages.ts';

export function usePoll<T>(load: () => Promise<T>, options: { intervalMs: number; enabled?: boolean }) {
  const enabled = options.enabled ?? true;
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const loadRef = useRef(load);
  const inFlight = useRef<Promise<void> | null>(null);
  const alive = useRef(true);

  useEffect(() => {
    loadRef.current = load;
  }, [load]);

  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  const refresh = useCallback((): Promise<void> => {
    if (inFlight.current) return inFlight.current;
    setLoading(true);
    const pending = (async () => {
      try {
        const result = await loadRef.current();
        if (alive.current) {
          setData(result);
          setError(null);
        }
      } catch (e) {
        if (alive.current) setError(describeError(e));
      } finally {
        inFlight.current = null;
        if (alive.current) setLoading(false);
      }
    })();
    inFlight.current = pending;
    return pending;
  }, []);

  useEffect(() => {
    if (!enabled) return;
    void refresh();
    const timer = setInterval(() => void refresh(), options.intervalMs);
    return () => clearInterval(timer);
  }, [enabled, options.intervalMs, refresh]);

  return { data, error, loading, refresh, setData };
}
