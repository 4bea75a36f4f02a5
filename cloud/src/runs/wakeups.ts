/**
 * Wake-ups between cloud instances sharing one database (ARCHITECTURE.md: "a run assigned to a
 * machine held by another instance is announced with LISTEN/NOTIFY"). Every change that may let
 * a machine held elsewhere act is announced on one channel, by a NOTIFY in the same transaction
 * as the change (delivered at commit, never on rollback):
 *   - `queued`: a queue (a group's, or a single machine's) has a run to hand out — a run was
 *     queued or put back (refused, its machine went away, not accepted in time);
 *   - `stop`: a run on a machine must stop (cancelled, timed out, lost) and, when `free`, that
 *     machine holds no run any more and may claim the next one;
 *   - `moved`: a machine joined, left or changed group: it now takes runs from another queue.
 * The instance whose sockets hold the machines concerned acts at once; the others ignore it.
 * Each instance ignores its own announcements (it acted on them directly, without the round
 * trip). The sweep stays the safety net for anything missed (e.g. while a listener reconnects).
 */
import type { Queryable } from '../db/database.ts';
import { notify } from '../db/notify.ts';

export const WAKE_CHANNEL = 'machine_runtime_runs';

export type StopReason = 'Cancelled' | 'TimedOut' | 'MachineLost';

export type WakeEvent =
  | { kind: 'queued'; groupId: string | null; machineId: string | null }
  | { kind: 'stop'; runId: string; attempt: number; machineId: string; reason: StopReason; free: boolean }
  | { kind: 'moved'; machineId: string; groupId: string | null };

/** On the wire: short keys (a NOTIFY payload is at most 8000 bytes; ours are ~150). */
type Wire =
  | { i: string; k: 'q'; g: string | null; m: string | null }
  | { i: string; k: 's'; r: string; a: number; m: string; why: StopReason; f: boolean }
  | { i: string; k: 'm'; m: string; g: string | null };

function encode(instanceId: string, event: WakeEvent): string {
  const wire: Wire =
    event.kind === 'queued'
      ? { i: instanceId, k: 'q', g: event.groupId, m: event.machineId }
      : event.kind === 'moved'
        ? { i: instanceId, k: 'm', m: event.machineId, g: event.groupId }
        : { i: instanceId, k: 's', r: event.runId, a: event.attempt, m: event.machineId, why: event.reason, f: event.free };
  return JSON.stringify(wire);
}

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 64;
const REASONS: readonly string[] = ['Cancelled', 'TimedOut', 'MachineLost'];

/** The event and the instance that sent it; null for anything that is not one of ours. */
export function parseWake(payload: string): { from: string; event: WakeEvent } | null {
  let wire: Partial<Record<string, unknown>>;
  try {
    wire = JSON.parse(payload) as Partial<Record<string, unknown>>;
  } catch {
    return null;
  }
  if (!wire || typeof wire !== 'object' || !isId(wire.i)) return null;
  if (wire.k === 'q') {
    const groupId = isId(wire.g) ? wire.g : null;
    const machineId = isId(wire.m) ? wire.m : null;
    if (!groupId && !machineId) return null;
    return { from: wire.i, event: { kind: 'queued', groupId, machineId } };
  }
  if (wire.k === 'm' && isId(wire.m)) {
    return { from: wire.i, event: { kind: 'moved', machineId: wire.m, groupId: isId(wire.g) ? wire.g : null } };
  }
  if (wire.k === 's' && isId(wire.r) && isId(wire.m) && Number.isInteger(wire.a) && REASONS.includes(wire.why as string)) {
    return {
      from: wire.i,
      event: { kind: 'stop', runId: wire.r, attempt: wire.a as number, machineId: wire.m, reason: wire.why as StopReason, free: wire.f === true },
    };
  }
  return null;
}

/**
 * The NOTIFY payload of one event, for SQL that announces its own change (POST /runs: the
 * queue_run function, migration 006, sends it with the run's INSERT: same transaction, same
 * delivery at commit, no round trip of its own).
 */
export function wakePayload(instanceId: string, event: WakeEvent): string {
  return encode(instanceId, event);
}

/** Announces events on `tx` (one statement); they reach the other instances when it commits. */
export async function announce(tx: Queryable, instanceId: string, events: readonly WakeEvent[]): Promise<void> {
  if (events.length === 0) return;
  const payloads = [...new Set(events.map((event) => encode(instanceId, event)))];
  if (payloads.length === 1) {
    await notify(tx, WAKE_CHANNEL, payloads[0]!);
    return;
  }
  await tx.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [WAKE_CHANNEL, payloads]);
}
