/**
 * Machines: registration (user token, or `Authorization: RegistrationToken <t>`), list, details,
 * edit, delete. Keys on the wire follow protocol/machine-assertion.ts: raw 32-byte public keys,
 * base64; the fingerprint is lowercase hex SHA-256.
 */
import { Type, type Static } from 'typebox';
import { Description, Id, NullableTimestamp, ObjectName, OwnerSummary, Timestamp } from './common.ts';
import { GroupAccessOrNone, PublicKeyBase64 } from './groups.ts';

export const MACHINE_STATUSES = ['Online', 'Offline', 'Busy', 'Maintenance'] as const;
export type MachineStatus = (typeof MACHINE_STATUSES)[number];

export const Fingerprint = Type.String({ pattern: '^[0-9a-f]{64}$', minLength: 64, maxLength: 64 });

export const RegisterMachineBody = Type.Object(
  {
    environmentId: Type.Optional(Id),
    name: ObjectName,
    description: Type.Optional(Description),
    signingPublicKey: PublicKeyBase64,
    encryptionPublicKey: PublicKeyBase64,
    fingerprint: Fingerprint,
    os: Type.Optional(Type.String({ maxLength: 200 })),
    runtimeVersion: Type.Optional(Type.String({ maxLength: 50 })),
  },
  { additionalProperties: false },
);
export type RegisterMachineBody = Static<typeof RegisterMachineBody>;

export const Machine = Type.Object({
  id: Id,
  environmentId: Id,
  name: Type.String(),
  description: Type.String(),
  status: Type.Enum(MACHINE_STATUSES),
  groupId: Type.Union([Id, Type.Null()]),
  owner: OwnerSummary,
  access: GroupAccessOrNone,
  lastSeenAt: NullableTimestamp,
  runtimeVersion: Type.Union([Type.String(), Type.Null()]),
  os: Type.Union([Type.String(), Type.Null()]),
  cloneSuspected: Type.Boolean(),
  maintenance: Type.Boolean(),
  signingPublicKey: Type.String(),
  encryptionPublicKey: Type.String(),
  allowedActions: Type.Array(Type.Enum(['view', 'edit', 'delete'] as const)),
  createdAt: Timestamp,
});
export type Machine = Static<typeof Machine>;

export const ListMachinesQuery = Type.Object({ environmentId: Type.Optional(Id) }, { additionalProperties: false });

export const UpdateMachineBody = Type.Object(
  { name: Type.Optional(ObjectName), description: Type.Optional(Description), maintenance: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type UpdateMachineBody = Static<typeof UpdateMachineBody>;
