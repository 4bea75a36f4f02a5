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
 * For a statement that makes a change and writes its record at once (POST /runs: the run's
 * INSERT and its record in one round trip): `INSERT INTO audit_events … SELECT … FROM <from>`
 * with the target id taken from `from`'s `targetIdColumn`, and its parameters numbered from
 * `firstParam`. One record per row of `from`, in the same statement, hence the same transaction.
 */
export function auditInsertFrom(
  from: string,
  targetIdColumn: string,
  firstParam: number,
  event: Omit<AuditEvent, 'targetId'>,
): { sql: string; params: unknown[] } {
  const [actorType, actorId] = actorColumns(event.actor);
  const $ = (i: number) => `$${firstParam + i}`;
  return {
    sql:
      `INSERT INTO audit_events (environment_id, actor_type, actor_id, action, target_type, target_id, detail) ` +
      `SELECT ${$(0)}::uuid, ${$(1)}::text, ${$(2)}::uuid, ${$(3)}::text, ${$(4)}::text, ${from}.${targetIdColumn}::text, ${$(5)}::jsonb FROM ${from}`,
    params: [event.environmentId ?? null, actorType, actorId, event.action, event.targetType, JSON.stringify(event.detail ?? {})],
  };
}
