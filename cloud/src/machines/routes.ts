/**
 * Machines: registration (a signed-in user, or `Authorization: RegistrationToken <t>` for VMs
 * enrolled by script), list, details, edit, delete. Permissions come from the policy module.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { CloudContext } from '../context.ts';
import type { Queryable } from '../db/database.ts';
import { loadActor, requireCaller, requireUser } from '../auth/authenticate.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { ApiError } from '../http/problem.ts';
import { mayRegisterMachine } from '../policy/permissions.ts';
import { consumeRegistrationToken } from '../identity/registration-tokens.ts';
import {
  IdParams,
  ListMachinesQuery,
  Machine,
  RegisterMachineBody,
  UpdateMachineBody,
} from '../../../protocol/cloud-api.ts';
import { problems, resolveEnvironment } from './common.ts';
import { authorizeMachine, breakMachineConnections, loadMachine, listVisibleMachines, machineView } from './repository.ts';
import { dispatcherOf } from '../runs/dispatcher.ts';

const REGISTRATION_TOKEN_HEADER = /^RegistrationToken\s+(\S{1,512})$/i;

function registrationToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header || !/^RegistrationToken\b/i.test(header)) return null;
  const match = REGISTRATION_TOKEN_HEADER.exec(header);
  if (!match) throw new ApiError('Unauthorized', 'The registration token is missing or malformed.');
  return match[1]!;
}

/** Raw 32-byte public keys (the schema checks the base64 shape; this checks the decoded length). */
function checkPublicKey(value: string, field: string): void {
  if (Buffer.from(value, 'base64').length !== 32) {
    throw new ApiError('ValidationFailed', `${field} must be a raw 32-byte public key in base64.`, {
      errors: [{ path: `/${field}`, message: 'must decode to 32 bytes' }],
    });
  }
}

async function insertMachine(
  tx: Queryable,
  body: RegisterMachineBody,
  environmentId: string,
  ownerId: string,
  registrationTokenId: string | null,
): Promise<string> {
  const [row] = await tx.query<{ id: string }>(
    `INSERT INTO machines (environment_id, owner_id, name, description, signing_public_key, encryption_public_key,
                           fingerprint_hash, os, runtime_version, registration_token_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
    [
      environmentId,
      ownerId,
      body.name.trim(),
      body.description ?? '',
      body.signingPublicKey,
      body.encryptionPublicKey,
      body.fingerprint,
      body.os ?? null,
      body.runtimeVersion ?? null,
      registrationTokenId,
    ],
  );
  return row!.id;
}

export const machineRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db, config } = context;

  app.post<{ Body: RegisterMachineBody }>(
    '/machines',
    {
      schema: {
        tags: ['machines'],
        summary: 'Register a machine (a signed-in user, or Authorization: RegistrationToken <token>)',
        security: [{ bearer: [] }, { registrationToken: [] }],
        body: RegisterMachineBody,
        response: { 201: Machine, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      checkPublicKey(body.signingPublicKey, 'signingPublicKey');
      checkPublicKey(body.encryptionPublicKey, 'encryptionPublicKey');
      const token = registrationToken(request);

      if (token !== null) {
        const { machineId, ownerId } = await db.transaction(async (tx) => {
          const consumed = await consumeRegistrationToken(tx, token, config.now());
          if (!consumed) throw new ApiError('Unauthorized', 'The registration token is invalid, expired, used up or revoked.');
          if (body.environmentId !== undefined && body.environmentId !== consumed.environmentId) {
            throw new ApiError('ValidationFailed', 'The registration token belongs to another environment.');
          }
          const [environment] = await tx.query<{ restrict_machine_registration: boolean }>(
            'SELECT restrict_machine_registration FROM environments WHERE id = $1',
            [consumed.environmentId],
          );
          const creator = await loadActor(tx, consumed.creatorId, consumed.environmentId);
          if (!environment || !mayRegisterMachine(creator, { restrictMachineRegistration: environment.restrict_machine_registration })) {
            throw new ApiError('Forbidden', 'The creator of this registration token may no longer register machines.');
          }
          const id = await insertMachine(tx, body, consumed.environmentId, consumed.creatorId, consumed.tokenId);
          const actor: AuditActor = { kind: 'registrationToken', tokenId: consumed.tokenId };
          await recordAudit(tx, {
            actor,
            action: 'machine.registered',
            targetType: 'machine',
            targetId: id,
            environmentId: consumed.environmentId,
            detail: { name: body.name.trim(), owner: consumed.creatorId },
          });
          return { machineId: id, ownerId: consumed.creatorId };
        });
        // The answer describes the machine as its owner (the token's creator) sees it.
        const machine = await loadMachine(db, ownerId, machineId);
        const ownerActor = await loadActor(db, ownerId, machine!.environment_id);
        return reply.status(201).send(machineView(machine!, ownerActor, ownerId));
      }

      const caller = requireUser(request);
      const { environment, actor } = await resolveEnvironment(db, caller.userId, body.environmentId);
      if (!mayRegisterMachine(actor, { restrictMachineRegistration: environment.restrict_machine_registration })) {
        throw new ApiError('Forbidden', 'You may not register machines in this environment.');
      }
      const machineId = await db.transaction(async (tx) => {
        const id = await insertMachine(tx, body, environment.id, caller.userId, null);
        await recordAudit(tx, {
          actor: caller,
          action: 'machine.registered',
          targetType: 'machine',
          targetId: id,
          environmentId: environment.id,
          detail: { name: body.name.trim() },
        });
        return id;
      });
      const machine = await loadMachine(db, caller.userId, machineId);
      return reply.status(201).send(machineView(machine!, actor, caller.userId));
    },
  );

  app.get<{ Querystring: { environmentId?: string } }>(
    '/machines',
    {
      schema: {
        tags: ['machines'],
        summary: 'The machines the caller may see (a machine token sees what its owner sees)',
        querystring: ListMachinesQuery,
        response: { 200: Type.Array(Machine), ...problems(400, 401) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      return listVisibleMachines(db, caller.userId, { environmentId: request.query.environmentId });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/machines/:id',
    {
      schema: {
        tags: ['machines'],
        summary: 'One machine (a machine token may read its own)',
        params: IdParams,
        response: { 200: Machine, ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      const { machine, actor } = await authorizeMachine(db, caller, request.params.id, 'view');
      return machineView(machine, actor, caller.userId);
    },
  );

  app.patch<{ Params: { id: string }; Body: UpdateMachineBody }>(
    '/machines/:id',
    {
      schema: {
        tags: ['machines'],
        summary: "Edit a machine's details (name, description, maintenance)",
        params: IdParams,
        body: UpdateMachineBody,
        response: { 200: Machine, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { machine, actor } = await authorizeMachine(db, caller, request.params.id, 'edit');
      const body = request.body;
      // Out of maintenance: the machine may take runs again (its own queue, and its group's), at once.
      const reopened =
        machine.maintenance && body.maintenance === false
          ? [{ groupId: null, machineId: machine.id }, ...(machine.group_id ? [{ groupId: machine.group_id, machineId: null }] : [])]
          : null;
      await db.transaction(async (tx) => {
        await tx.query(
          `UPDATE machines SET name = COALESCE($2, name), description = COALESCE($3, description),
                  maintenance = COALESCE($4, maintenance)
            WHERE id = $1`,
          [machine.id, body.name?.trim() ?? null, body.description ?? null, body.maintenance ?? null],
        );
        await recordAudit(tx, {
          actor: caller,
          action: 'machine.updated',
          targetType: 'machine',
          targetId: machine.id,
          environmentId: machine.environment_id,
          detail: { changed: Object.keys(body) },
        });
        if (reopened) await dispatcherOf(context).announceQueuesReopened(tx, reopened);
      });
      if (reopened) dispatcherOf(context).queuesReopened(reopened);
      const updated = await loadMachine(db, caller.userId, machine.id);
      if (!updated) throw new ApiError('NotFound', 'The machine was not found.');
      return machineView(updated, actor, caller.userId);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/machines/:id',
    {
      schema: {
        tags: ['machines'],
        summary: 'Delete a machine: it leaves its group and the connections that target it break',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { machine } = await authorizeMachine(db, caller, request.params.id, 'delete');
      await db.transaction(async (tx) => {
        const broken = await breakMachineConnections(tx, machine.id, `The machine "${machine.name}" was deleted.`);
        const deleted = await tx.query('DELETE FROM machines WHERE id = $1 RETURNING id', [machine.id]);
        if (deleted.length === 0) throw new ApiError('NotFound', 'The machine was not found.');
        await recordAudit(tx, {
          actor: caller,
          action: 'machine.deleted',
          targetType: 'machine',
          targetId: machine.id,
          environmentId: machine.environment_id,
          detail: { name: machine.name, groupId: machine.group_id, brokenConnections: broken },
        });
      });
      return reply.status(204).send();
    },
  );
};
