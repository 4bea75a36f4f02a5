/**
 * Machine groups: create, list, details, edit, delete, the machines of a group, and sharing
 * (access list, share as Co-owner or User, unshare). Membership (joining with the group
 * password, leaving, password changes) is in membership-routes.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { CloudContext } from '../context.ts';
import { requireCaller, requireUser } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/audit.ts';
import { ApiError } from '../http/problem.ts';
import { mayCreateGroup } from '../policy/permissions.ts';
import {
  CreateGroupBody,
  GroupAccessEntry,
  GroupUserParams,
  IdParams,
  ListGroupsQuery,
  Machine,
  MachineGroup,
  ShareGroupBody,
  UpdateGroupBody,
} from '../../../protocol/cloud-api.ts';
import { isUniqueViolation, problems, resolveEnvironment } from '../machines/common.ts';
import { listVisibleMachines } from '../machines/repository.ts';
import { authorizeGroup, groupViewFor, listVisibleGroups } from './repository.ts';
import { membershipRoutes } from './membership-routes.ts';
import { dispatcherOf } from '../runs/dispatcher.ts';

const NAME_INDEX = 'machine_groups_name_key';

function nameTaken(name: string): ApiError {
  return new ApiError('NameTaken', `A machine group named "${name}" already exists in this environment.`);
}

export const groupRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const { db } = context;
  await app.register(membershipRoutes, { context });

  app.get<{ Querystring: { environmentId?: string } }>(
    '/machine-groups',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'The machine groups the caller may see (a machine token sees what its owner sees)',
        querystring: ListGroupsQuery,
        response: { 200: Type.Array(MachineGroup), ...problems(400, 401) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      return listVisibleGroups(db, caller.userId, request.query.environmentId);
    },
  );

  app.post<{ Body: CreateGroupBody }>(
    '/machine-groups',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'Create a machine group (in the default environment unless environmentId is given)',
        body: CreateGroupBody,
        response: { 201: MachineGroup, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { environment, actor } = await resolveEnvironment(db, caller.userId, request.body.environmentId);
      if (!mayCreateGroup(actor)) throw new ApiError('Forbidden', 'You may not create machine groups in this environment.');
      const name = request.body.name.trim();
      let groupId: string;
      try {
        groupId = await db.transaction(async (tx) => {
          const [row] = await tx.query<{ id: string }>(
            `INSERT INTO machine_groups (environment_id, owner_id, name, description) VALUES ($1, $2, $3, $4) RETURNING id`,
            [environment.id, caller.userId, name, request.body.description ?? ''],
          );
          await recordAudit(tx, {
            actor: caller,
            action: 'group.created',
            targetType: 'machineGroup',
            targetId: row!.id,
            environmentId: environment.id,
            detail: { name },
          });
          return row!.id;
        });
      } catch (error) {
        if (isUniqueViolation(error, NAME_INDEX)) throw nameTaken(name);
        throw error;
      }
      return reply.status(201).send(await groupViewFor(db, caller.userId, groupId, actor));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/machine-groups/:id',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'One machine group',
        params: IdParams,
        response: { 200: MachineGroup, ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      const { group, actor } = await authorizeGroup(db, caller, request.params.id, 'view');
      return groupViewFor(db, caller.userId, group.id, actor);
    },
  );

  app.patch<{ Params: { id: string }; Body: UpdateGroupBody }>(
    '/machine-groups/:id',
    {
      schema: {
        tags: ['machine groups'],
        summary: "Edit a machine group's details (name, description, maintenance)",
        params: IdParams,
        body: UpdateGroupBody,
        response: { 200: MachineGroup, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { group, actor } = await authorizeGroup(db, caller, request.params.id, 'editDetails');
      const body = request.body;
      const name = body.name?.trim();
      // Out of maintenance: the group's queue may hand out runs again, at once.
      const reopened = group.maintenance && body.maintenance === false ? [{ groupId: group.id, machineId: null }] : null;
      try {
        await db.transaction(async (tx) => {
          await tx.query(
            `UPDATE machine_groups SET name = COALESCE($2, name), description = COALESCE($3, description),
                    maintenance = COALESCE($4, maintenance)
              WHERE id = $1`,
            [group.id, name ?? null, body.description ?? null, body.maintenance ?? null],
          );
          if (reopened) await dispatcherOf(context).announceQueuesReopened(tx, reopened);
          await recordAudit(tx, {
            actor: caller,
            action: 'group.updated',
            targetType: 'machineGroup',
            targetId: group.id,
            environmentId: group.environment_id,
            detail: { changed: Object.keys(body), ...(name !== undefined && name !== group.name ? { from: group.name, to: name } : {}) },
          });
        });
      } catch (error) {
        if (isUniqueViolation(error, NAME_INDEX)) throw nameTaken(name ?? group.name);
        throw error;
      }
      if (reopened) dispatcherOf(context).queuesReopened(reopened);
      return groupViewFor(db, caller.userId, group.id, actor);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/machine-groups/:id',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'Delete an empty machine group (409 GroupNotEmpty while it has machines)',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'delete');
      await db.transaction(async (tx) => {
        // The row lock orders this delete with concurrent joins (which lock the group too).
        const [locked] = await tx.query('SELECT id FROM machine_groups WHERE id = $1 FOR UPDATE', [group.id]);
        if (!locked) throw new ApiError('NotFound', 'The machine group was not found.');
        const [count] = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM machines WHERE group_id = $1', [group.id]);
        if ((count?.n ?? 0) > 0) {
          throw new ApiError('GroupNotEmpty', `The machine group "${group.name}" still has ${count!.n} machine(s); remove them first.`);
        }
        const broken = await tx.query(
          `UPDATE connections SET status = 'Broken', broken_reason = $2
            WHERE target_type = 'MachineGroup' AND target_id = $1 AND status <> 'Broken' RETURNING id`,
          [group.id, `The machine group "${group.name}" was deleted.`],
        );
        await tx.query('DELETE FROM machine_groups WHERE id = $1', [group.id]);
        await recordAudit(tx, {
          actor: caller,
          action: 'group.deleted',
          targetType: 'machineGroup',
          targetId: group.id,
          environmentId: group.environment_id,
          detail: { name: group.name, brokenConnections: broken.length },
        });
      });
      return reply.status(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    '/machine-groups/:id/machines',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'The machines of a group',
        params: IdParams,
        response: { 200: Type.Array(Machine), ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'view');
      return listVisibleMachines(db, caller.userId, { groupId: group.id });
    },
  );

  // ── Sharing ──────────────────────────────────────────────────────────────────────────────

  app.get<{ Params: { id: string } }>(
    '/machine-groups/:id/access',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'Who has access to a group (the owner first)',
        params: IdParams,
        response: { 200: Type.Array(GroupAccessEntry), ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'view');
      const rows = await db.query<{ id: string; email: string; display_name: string; level: 'Owner' | 'CoOwner' | 'User' }>(
        `SELECT u.id, u.email, u.display_name, 'Owner' AS level, 0 AS rank
           FROM machine_groups g JOIN users u ON u.id = g.owner_id WHERE g.id = $1
         UNION ALL
         SELECT u.id, u.email, u.display_name, ga.level, CASE ga.level WHEN 'CoOwner' THEN 1 ELSE 2 END AS rank
           FROM group_access ga JOIN users u ON u.id = ga.user_id WHERE ga.group_id = $1
         ORDER BY rank, display_name, id`,
        [group.id],
      );
      return rows.map((row) => ({ user: { id: row.id, email: row.email, displayName: row.display_name }, access: row.level }));
    },
  );

  app.put<{ Params: { id: string; userId: string }; Body: ShareGroupBody }>(
    '/machine-groups/:id/access/:userId',
    {
      schema: {
        tags: ['machine groups'],
        summary: 'Share a group with a user as Co-owner or User (or change their access)',
        params: GroupUserParams,
        body: ShareGroupBody,
        response: { 200: GroupAccessEntry, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = requireUser(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'share');
      const { userId } = request.params;
      if (userId === group.owner_id) {
        throw new ApiError('ValidationFailed', 'That user owns the machine group; the owner always has full access.');
      }
      const [user] = await db.query<{ id: string; email: string; display_name: string }>(
        'SELECT id, email, display_name FROM users WHERE id = $1',
        [userId],
      );
      if (!user) throw new ApiError('NotFound', 'No user with that id exists.');
      const access = request.body.access;
      await db.transaction(async (tx) => {
        const [before] = await tx.query<{ level: string }>('SELECT level FROM group_access WHERE group_id = $1 AND user_id = $2', [
          group.id,
          userId,
        ]);
        await tx.query(
          `INSERT INTO group_access (group_id, user_id, level) VALUES ($1, $2, $3)
           ON CONFLICT (group_id, user_id) DO UPDATE SET level = EXCLUDED.level`,
          [group.id, userId, access],
        );
        await recordAudit(tx, {
          actor: caller,
          action: 'group.shared',
          targetType: 'machineGroup',
          targetId: group.id,
          environmentId: group.environment_id,
          detail: { userId, access, previous: before?.level ?? null },
        });
      });
      return { user: { id: user.id, email: user.email, displayName: user.display_name }, access };
    },
  );

  app.delete<{ Params: { id: string; userId: string } }>(
    '/machine-groups/:id/access/:userId',
    {
      schema: {
        tags: ['machine groups'],
        summary: "Remove a user's access to a group",
        params: GroupUserParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const caller = requireUser(request);
      const { group } = await authorizeGroup(db, caller, request.params.id, 'share');
      const { userId } = request.params;
      if (userId === group.owner_id) {
        throw new ApiError('ValidationFailed', "The owner's access cannot be removed.");
      }
      await db.transaction(async (tx) => {
        const removed = await tx.query<{ level: string }>(
          'DELETE FROM group_access WHERE group_id = $1 AND user_id = $2 RETURNING level',
          [group.id, userId],
        );
        if (removed.length === 0) throw new ApiError('NotFound', 'That user has no access to this machine group.');
        await recordAudit(tx, {
          actor: caller,
          action: 'group.unshared',
          targetType: 'machineGroup',
          targetId: group.id,
          environmentId: group.environment_id,
          detail: { userId, previous: removed[0]!.level },
        });
      });
      return reply.status(204).send();
    },
  );
};
