/**
 * Membership with the zero-knowledge group password (ARCHITECTURE.md, "Group password"; the
 * flow is described in protocol/api/groups.ts). The cloud keeps only the public group keys and
 * the wrapped bundle it cannot open; a machine proves it holds the group key by signing a fresh,
 * single-use challenge. The 50-machine limit and the one-group rule hold under concurrency: the
 * join transaction locks the group row while it counts, and moving is one UPDATE of the machine.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { CloudContext } from '../context.ts';
import { dispatcherOf } from '../runs/dispatcher.ts';
import type { Queryable } from '../db/database.ts';
import { loadActor, requireCaller, requireMachine, type Caller, type MachineCaller } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/audit.ts';
import { ApiError } from '../http/problem.ts';
import { decideGroupMachineRemoval } from '../policy/permissions.ts';
import {
  ChallengeBody,
  ChallengeResponse,
  GroupMachineParams,
  IdParams,
  JoinGroupBody,
  JoinGroupResponse,
  KeyBundleResponse,
  ReplaceKeyBundleBody,
  ReplaceKeyBundleResponse,
  groupChallengeMessage,
  type ChallengePurpose,
} from '../../../protocol/cloud-api.ts';
import { problems, toIso, toIsoRequired } from '../machines/common.ts';
import { breakMachineConnections } from '../machines/repository.ts';
import { authorizeGroup, loadGroup, type AuthorizedGroup } from './repository.ts';
import { verifyGroupSignature } from './group-keys.ts';

export const membershipRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db, config, rateLimiter } = context;

  /**
   * Bundle fetches and join attempts, each counted per group per hour and per caller per minute.
   * The caller is the person, or the machine for a machine token: VMs enrolled with one
   * registration token all act for its creator, and a per-person limit would throttle a script
   * that enrols a fleet, while the per-group limit still bounds what anyone can try.
   */
  async function countMembershipAttempt(kind: 'bundle' | 'attempt', groupId: string, caller: Caller): Promise<void> {
    const who = caller.kind === 'machine' ? `machine:${caller.machineId}` : `user:${caller.userId}`;
    await rateLimiter.hit([
      { bucket: `group-membership:${kind}:group:${groupId}`, limit: config.rateLimits.groupPerHour, windowSeconds: 3600 },
      { bucket: `group-membership:${kind}:${who}`, limit: config.rateLimits.userPerMinute, windowSeconds: 60 },
    ]);
  }

  /** The group, when the machine's owner may add machines to it and the machine is of its environment. */
  async function groupForMachine(caller: MachineCaller, groupId: string): Promise<AuthorizedGroup> {
    const authorized = await authorizeGroup(db, caller, groupId, 'addMachines');
    if (authorized.group.environment_id !== caller.environmentId) {
      throw new ApiError('Forbidden', 'This machine is registered in another environment than the machine group.');
    }
    return authorized;
  }

  async function ownGroupOfMachine(caller: Caller, groupId: string): Promise<AuthorizedGroup> {
    const group = await loadGroup(db, caller.userId, groupId);
    if (!group) throw new ApiError('NotFound', 'The machine group was not found.');
    return { group, actor: await loadActor(db, caller.userId, group.environment_id), access: group.access };
  }

  /** Uses the nonce (its own statement, committed at once: a failed proof still uses it up). */
  async function consumeChallenge(nonce: string, groupId: string, machineId: string, purpose: ChallengePurpose): Promise<void> {
    const used = await db.query(
      `UPDATE join_challenges SET used_at = $5
        WHERE nonce = $1 AND group_id = $2 AND machine_id = $3 AND purpose = $4 AND used_at IS NULL AND expires_at > $5
        RETURNING nonce`,
      [nonce, groupId, machineId, purpose, config.now()],
    );
    if (used.length === 0) {
      throw new ApiError('ChallengeExpired', 'The challenge has expired, was already used or is not for this request; ask for a new one.');
    }
  }

  app.get<{ Params: { id: string } }>(
    '/machine-groups/:id/key-bundle',
    {
      schema: {
        tags: ['machine group membership'],
        summary: 'The wrapped group keys and public keys (co-owners; rate-limited)',
        description:
          'The bundle is opaque to the server: the machine unwraps it locally with the group password. Needs addMachines on the group (user or machine token). Rate-limited per group per hour and per user per minute (429 RateLimited with Retry-After).',
        params: IdParams,
        response: { 200: KeyBundleResponse, ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'addMachines');
      await countMembershipAttempt('bundle', group.id, caller);
      return {
        groupId: group.id,
        hasPassword: group.key_bundle !== null,
        ...(group.key_bundle !== null
          ? {
              keyBundle: group.key_bundle,
              signingPublicKey: group.signing_public_key!,
              encryptionPublicKey: group.encryption_public_key!,
            }
          : {}),
        keyVersion: group.key_version,
        passwordChangedAt: toIso(group.password_changed_at),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: ChallengeBody }>(
    '/machine-groups/:id/challenges',
    {
      schema: {
        tags: ['machine group membership'],
        summary: 'A fresh single-use challenge for joining (purpose join) or for a password change (purpose password)',
        description: 'Machine token only. Counts as a join attempt for the rate limits.',
        params: IdParams,
        body: ChallengeBody,
        response: { 201: ChallengeResponse, ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const caller = requireMachine(request);
      const { group } = await groupForMachine(caller, request.params.id);
      const { purpose } = request.body;
      if (purpose === 'password' && caller.groupId !== group.id) {
        throw new ApiError('NotInGroup', 'Only a machine of the group can change its password; join the group first.');
      }
      if (purpose === 'password' && group.key_bundle === null) {
        throw new ApiError('GroupHasNoPassword', 'The machine group has no password yet; the first machine to join sets it.');
      }
      if (purpose === 'join' && caller.groupId === group.id) {
        throw new ApiError('AlreadyInGroup', `This machine is already in the machine group "${group.name}".`);
      }
      await countMembershipAttempt('attempt', group.id, caller);
      const now = config.now();
      const nonce = randomBytes(32).toString('base64url');
      const expiresAt = new Date(now.getTime() + config.joinChallengeSeconds * 1000);
      // Old challenges of this machine are of no use any more.
      await db.query('DELETE FROM join_challenges WHERE machine_id = $1 AND (used_at IS NOT NULL OR expires_at <= $2)', [
        caller.machineId,
        now,
      ]);
      await db.query(
        'INSERT INTO join_challenges (nonce, group_id, machine_id, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [nonce, group.id, caller.machineId, purpose, expiresAt],
      );
      return reply.status(201).send({ nonce, purpose, groupId: group.id, machineId: caller.machineId, expiresAt: expiresAt.toISOString() });
    },
  );

  app.post<{ Params: { id: string }; Body: JoinGroupBody }>(
    '/machine-groups/:id/members',
    {
      schema: {
        tags: ['machine group membership'],
        summary: 'Join (or move to) a machine group with a signed challenge',
        description:
          "Machine token only; the machine's owner needs addMachines on the group. `signature` is Ed25519 by the group signing key over groupChallengeMessage({ purpose: 'join', groupId, machineId, nonce }) — for the first machine (no password yet) also over the uploaded `firstJoin` bundle and public keys, signed with the new key. A machine in another group is moved, atomically. Connections that targeted the machine itself break.",
        params: IdParams,
        body: JoinGroupBody,
        response: { 201: JoinGroupResponse, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller = requireMachine(request);
      const { group } = await groupForMachine(caller, request.params.id);
      const { nonce, signature, firstJoin } = request.body;
      await consumeChallenge(nonce, group.id, caller.machineId, 'join');
      const result = await db.transaction(async (tx) => {
        const joined = await join(tx, { caller, groupId: group.id, nonce, signature, firstJoin, now: config.now(), maxMachines: config.maxMachinesPerGroup });
        await dispatcherOf(context).announceMachineMoved(tx, caller.machineId, group.id);
        return joined;
      });
      // Its agent takes the group's queued runs now, not at the next sweep.
      dispatcherOf(context).machineMoved(caller.machineId, group.id);
      return reply.status(201).send(result);
    },
  );

  app.put<{ Params: { id: string }; Body: ReplaceKeyBundleBody }>(
    '/machine-groups/:id/key-bundle',
    {
      schema: {
        tags: ['machine group membership'],
        summary: 'Replace the wrapped group keys after a password change (a member machine)',
        description:
          "Machine token of a machine in the group; its owner needs addMachines. `signature` is Ed25519 by the group signing key over groupChallengeMessage({ purpose: 'password', groupId, machineId, nonce, keyBundle }). The keys stay the same; only their wrapping (the password) changes.",
        params: IdParams,
        body: ReplaceKeyBundleBody,
        response: { 200: ReplaceKeyBundleResponse, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const caller = requireMachine(request);
      const { group } = await groupForMachine(caller, request.params.id);
      if (caller.groupId !== group.id) throw new ApiError('NotInGroup', 'Only a machine of the group can change its password.');
      const { nonce, signature, keyBundle } = request.body;
      await consumeChallenge(nonce, group.id, caller.machineId, 'password');
      const now = config.now();
      return db.transaction(async (tx) => {
        const [locked] = await tx.query<{ signing_public_key: string | null; key_version: number }>(
          'SELECT signing_public_key, key_version FROM machine_groups WHERE id = $1 FOR UPDATE',
          [group.id],
        );
        if (!locked) throw new ApiError('NotFound', 'The machine group was not found.');
        if (locked.signing_public_key === null) throw new ApiError('GroupHasNoPassword', 'The machine group has no password yet.');
        const [member] = await tx.query('SELECT 1 FROM machines WHERE id = $1 AND group_id = $2', [caller.machineId, group.id]);
        if (!member) throw new ApiError('NotInGroup', 'Only a machine of the group can change its password.');
        const message = groupChallengeMessage({ purpose: 'password', groupId: group.id, machineId: caller.machineId, nonce, keyBundle });
        if (!verifyGroupSignature(locked.signing_public_key, message, signature)) {
          throw new ApiError('IncorrectGroupPassword', 'The proof is not signed with the group key.');
        }
        const [updated] = await tx.query<{ key_version: number; password_changed_at: Date | string }>(
          `UPDATE machine_groups SET key_bundle = $2, key_version = key_version + 1, password_changed_at = $3
            WHERE id = $1 RETURNING key_version, password_changed_at`,
          [group.id, keyBundle, now],
        );
        await recordAudit(tx, {
          actor: caller,
          action: 'group.passwordChanged',
          targetType: 'machineGroup',
          targetId: group.id,
          environmentId: group.environment_id,
          detail: { keyVersion: updated!.key_version },
        });
        return { groupId: group.id, keyVersion: updated!.key_version, passwordChangedAt: toIsoRequired(updated!.password_changed_at) };
      });
    },
  );

  app.delete<{ Params: { id: string; machineId: string } }>(
    '/machine-groups/:id/machines/:machineId',
    {
      schema: {
        tags: ['machine group membership'],
        summary: 'A machine leaves the group (its own machine token), or a co-owner removes it',
        description: 'The server forgets only the membership; the machine deletes its copy of the group key itself.',
        params: GroupMachineParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller: Caller = requireCaller(request);
      const { machineId } = request.params;
      const machineIsCaller = caller.kind === 'machine' && caller.machineId === machineId;
      if (caller.kind === 'machine' && !machineIsCaller) {
        throw new ApiError('Forbidden', 'A machine token can only take its own machine out of a group.');
      }
      // A machine may leave its own group even when its owner has since lost access to it.
      const { group, actor, access } = machineIsCaller
        ? await ownGroupOfMachine(caller, request.params.id)
        : await authorizeGroup(db, caller, request.params.id, 'view');
      const decision = decideGroupMachineRemoval(actor, access, { machineIsCaller });
      if (decision === 'hidden') throw new ApiError('NotFound', 'The machine group was not found.');
      if (decision === 'forbidden') throw new ApiError('Forbidden', 'You may not remove machines from this machine group.');
      await db.transaction(async (tx) => {
        const left = await tx.query<{ name: string }>(
          'UPDATE machines SET group_id = NULL, joined_group_at = NULL WHERE id = $1 AND group_id = $2 RETURNING name',
          [machineId, group.id],
        );
        if (left.length === 0) {
          throw machineIsCaller
            ? new ApiError('NotInGroup', `This machine is not in the machine group "${group.name}".`)
            : new ApiError('NotFound', 'That machine is not in this machine group.');
        }
        await recordAudit(tx, {
          actor: caller,
          action: machineIsCaller ? 'group.machineLeft' : 'group.machineRemoved',
          targetType: 'machineGroup',
          targetId: group.id,
          environmentId: group.environment_id,
          detail: { machineId, machineName: left[0]!.name },
        });
        await dispatcherOf(context).announceMachineMoved(tx, machineId, null);
      });
      // It takes only the runs targeting it alone from now on.
      dispatcherOf(context).machineMoved(machineId, null);
      return reply.status(204).send();
    },
  );
};

interface JoinRequest {
  caller: MachineCaller;
  groupId: string;
  nonce: string;
  signature: string;
  firstJoin?: { keyBundle: string; signingPublicKey: string; encryptionPublicKey: string } | undefined;
  now: Date;
  maxMachines: number;
}

/** The join itself, in one transaction: lock the group, check the proof and the limit, move the machine. */
async function join(tx: Queryable, request: JoinRequest) {
  const { caller, groupId, nonce, signature, firstJoin, now } = request;
  const [group] = await tx.query<{ name: string; environment_id: string; signing_public_key: string | null; key_version: number }>(
    'SELECT name, environment_id, signing_public_key, key_version FROM machine_groups WHERE id = $1 FOR UPDATE',
    [groupId],
  );
  if (!group) throw new ApiError('NotFound', 'The machine group was not found.');
  const [machine] = await tx.query<{ group_id: string | null }>('SELECT group_id FROM machines WHERE id = $1 FOR UPDATE', [
    caller.machineId,
  ]);
  if (!machine) throw new ApiError('NotFound', 'The machine was not found.');
  if (machine.group_id === groupId) throw new ApiError('AlreadyInGroup', `This machine is already in the machine group "${group.name}".`);

  let keyVersion = group.key_version;
  const setPassword = group.signing_public_key === null;
  if (setPassword) {
    if (!firstJoin) {
      throw new ApiError('GroupHasNoPassword', 'The machine group has no password yet: the first machine sends firstJoin (bundle and public keys).');
    }
    const message = groupChallengeMessage({ purpose: 'join', groupId, machineId: caller.machineId, nonce, ...firstJoin });
    if (!verifyGroupSignature(firstJoin.signingPublicKey, message, signature)) {
      throw new ApiError('IncorrectGroupPassword', 'The proof is not signed with the uploaded group key.');
    }
    const [updated] = await tx.query<{ key_version: number }>(
      `UPDATE machine_groups SET key_bundle = $2, signing_public_key = $3, encryption_public_key = $4,
              key_version = 1, password_changed_at = $5
        WHERE id = $1 RETURNING key_version`,
      [groupId, firstJoin.keyBundle, firstJoin.signingPublicKey, firstJoin.encryptionPublicKey, now],
    );
    keyVersion = updated!.key_version;
  } else {
    if (firstJoin) {
      throw new ApiError('GroupHasPassword', 'The machine group already has a password; fetch its key bundle and sign with its key.');
    }
    const message = groupChallengeMessage({ purpose: 'join', groupId, machineId: caller.machineId, nonce });
    if (!verifyGroupSignature(group.signing_public_key!, message, signature)) {
      throw new ApiError('IncorrectGroupPassword', 'The group password is incorrect (the proof is not signed with the group key).');
    }
  }

  const [count] = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM machines WHERE group_id = $1', [groupId]);
  if ((count?.n ?? 0) >= request.maxMachines) {
    throw new ApiError('GroupFull', `The machine group "${group.name}" already has the maximum of ${request.maxMachines} machines.`);
  }

  let movedFrom: { id: string; name: string } | null = null;
  if (machine.group_id !== null) {
    const [previous] = await tx.query<{ id: string; name: string }>('SELECT id, name FROM machine_groups WHERE id = $1', [machine.group_id]);
    movedFrom = previous ?? null;
  }
  // One statement moves the machine: it is in exactly one group before and after.
  await tx.query('UPDATE machines SET group_id = $2, joined_group_at = $3 WHERE id = $1', [caller.machineId, groupId, now]);
  const brokenConnections = await breakMachineConnections(
    tx,
    caller.machineId,
    `The machine joined the machine group "${group.name}"; target the group instead.`,
  );
  await recordAudit(tx, {
    actor: caller,
    action: movedFrom ? 'group.machineMoved' : 'group.machineJoined',
    targetType: 'machineGroup',
    targetId: groupId,
    environmentId: group.environment_id,
    detail: { machineId: caller.machineId, movedFrom: movedFrom?.id ?? null, setPassword, brokenConnections },
  });
  return { groupId, machineId: caller.machineId, movedFrom, setPassword, brokenConnections, keyVersion };
}
