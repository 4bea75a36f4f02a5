/** The audit trail: one record for every change (who, what, target, when), read by admins. */
import type { Queryable } from '../db/database.ts';
import type { Caller } from '../auth/authenticate.ts';

export type AuditActor =
  | Caller
  | { kind: 'registrationToken'; tokenId: string }
  | { kind: 'system' };

export interface AuditEvent {
  actor: AuditActor;
  action: string;
  targetType: string;
  targetId?: string | null;
  environmentId?: string | null;
  /** Never secrets: names, ids and flags only. */
  detail?: Record<string, unknown>;
}

function actorColumns(actor: AuditActor): [string, string | null] {
  switch (actor.kind) {
    case 'user':
      return ['user', actor.userId];
    case 'machine':
      return ['machine', actor.machineId];
    case 'registrationToken':
      return ['registrationToken', actor.tokenId];
    case 'system':
      return ['system', null];
  }
}

/** Call inside the transaction that makes the change, so the record and the change land together. */
export async function recordAudit(db: Queryable, event: AuditEvent): Promise<void> {
  const [actorType, actorId] = actorColumns(event.actor);
  await db.query(
    `INSERT INTO audit_events (environment_id, actor_type, actor_id, action, target_type, target_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      event.environmentId ?? null,
      actorType,
      actorId,
      event.action,
      event.targetType,
      event.targetId ?? null,
      JSON.stringify(event.detail ?? {}),
    ],
  );
}

/**
 * The columns of an audit record that SQL writes itself, in the statement that makes the change
 * (the queue_run function, migration 006: POST /runs in one round trip): the same values as
 * `recordAudit` writes.
 */
export function auditColumns(event: Omit<AuditEvent, 'targetId' | 'targetType' | 'environmentId'>): {
  actorType: string;
  actorId: string | null;
  action: string;
  detail: string;
} {
  const [actorType, actorId] = actorColumns(event.actor);
  return { actorType, actorId, action: event.action, detail: JSON.stringify(event.detail ?? {}) };
}
