/**
 * Runs one user action: busy while it runs, a toast when it ends, the problem named when it
 * fails (and kept for the form to show inline).
 */
import { useCallback, useState } from 'react';
import { describeError, errorCode } from '../api/error-messages.ts';
import type { DesktopErrorCode } from '../../../protocol/desktop-api.ts';
import { useNotify } from './notify.ts';

export interface ActionFailure {
  code: DesktopErrorCode;
  message: string;
}

export function useAction() {
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<ActionFailure | null>(null);

  const run = useCallback(
    async <T>(
      action: () => Promise<T>,
      messages: { success?: string | ((result: T) => string); failure: string; toastOnFailure?: boolean },
    ): Promise<{ ok: true; result: T } | { ok: false; failure: ActionFailure }> => {
      setBusy(true);
      setFailure(null);
      try {
        const result = await action();
        if (messages.success) notify.success(typeof messages.success === 'function' ? messages.success(result) : messages.success);
        return { ok: true, result };
      } catch (error) {
        const f = { code: errorCode(error), message: describeError(error) };
        setFailure(f);
        if (messages.toastOnFailure !== false) notify.failure(messages.failure, error);
        return { ok: false, failure: f };
      } finally {
        setBusy(false);
      }
    },
    [notify],
  );

  return { run, busy, failure, clearFailure: () => setFailure(null) };
}
