/**
 * Machine groups: details, sharing and membership with the zero-knowledge group password
 * (ARCHITECTURE.md, "Group password").
 *
 * Membership, as a machine does it (machine token; the CLI's `groups join`):
 *   1. GET  /machine-groups/{id}/key-bundle            → { hasPassword, keyBundle?, … }
 *      no password yet: the machine creates the group keys and wraps them with the new password;
 *      otherwise it unwraps `keyBundle` with the password it was given (a wrong password fails
 *      there, on the machine: the server never sees the password).
 *   2. POST /machine-groups/{id}/challenges { purpose: 'join' }   → { nonce, expiresAt }
 *   3. POST /machine-groups/{id}/members { nonce, signature, firstJoin? } → 201 { groupId, movedFrom, … }
 *      `signature` is Ed25519 by the GROUP signing key over `groupChallengeMessage(...)`.
 * Editing the password (a member machine; `groups password`):
 *   POST /machine-groups/{id}/challenges { purpose: 'password' }, then
 *   PUT  /machine-groups/{id}/key-bundle { nonce, signature, keyBundle } (the same keys re-wrapped).
 */
import { Type, type Static } from 'typebox';
import { AccessLevelSchema, Description, Id, NullableTimestamp, ObjectName, OwnerSummary, Timestamp, UserSummary } from './common.ts';

export const GROUP_ACTIONS = ['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete'] as const;
export type GroupActionName = (typeof GROUP_ACTIONS)[number];

/** A raw 32-byte Ed25519 / X25519 public key, standard padded base64 (protocol/machine-assertion.ts). */
export const PublicKeyBase64 = Type.String({
  pattern: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$',
  minLength: 44,
  maxLength: 44,
  description: 'Raw 32-byte public key, base64',
});
/** A raw 64-byte Ed25519 signature, standard padded base64. */
export const SignatureBase64 = Type.String({
  pattern: '^[A-Za-z0-9+/]{85}[AQgw]==$',
  minLength: 88,
  maxLength: 88,
  description: 'Raw 64-byte Ed25519 signature, base64',
});
/** A challenge nonce as the server makes it (32 random bytes, base64url). */
export const Nonce = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', minLength: 43, maxLength: 43 });
/**
 * The wrapped group keys: opaque to the server (base64 of a small JSON document the machine
 * made, see electron/runtime/group-crypto.ts). Bounded so it cannot be abused as storage.
 */
export const KeyBundle = Type.String({ pattern: '^[A-Za-z0-9+/]+={0,2}$', minLength: 16, maxLength: 4096 });

/** Access levels as an enum schema (its static type is the string union). */
export const AccessLevelEnum = AccessLevelSchema;

export const GroupAccessOrNone = Type.Union([AccessLevelEnum, Type.Null()], {
  description: "The caller's own access; null for an Environment Admin without access of their own",
});

export const MachineGroup = Type.Object({
  id: Id,
  environmentId: Id,
  name: Type.String(),
  description: Type.String(),
  machineCount: Type.Integer(),
  runningCount: Type.Integer(),
  queuedCount: Type.Integer(),
  access: GroupAccessOrNone,
  owner: OwnerSummary,
  hasPassword: Type.Boolean(),
  keyVersion: Type.Integer(),
  passwordChangedAt: NullableTimestamp,
  maintenance: Type.Boolean(),
  allowedActions: Type.Array(Type.Enum(GROUP_ACTIONS)),
  createdAt: Timestamp,
});
export type MachineGroup = Static<typeof MachineGroup>;

export const ListGroupsQuery = Type.Object({ environmentId: Type.Optional(Id) }, { additionalProperties: false });

export const CreateGroupBody = Type.Object(
  { environmentId: Type.Optional(Id), name: ObjectName, description: Type.Optional(Description) },
  { additionalProperties: false },
);
export type CreateGroupBody = Static<typeof CreateGroupBody>;

export const UpdateGroupBody = Type.Object(
  { name: Type.Optional(ObjectName), description: Type.Optional(Description), maintenance: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type UpdateGroupBody = Static<typeof UpdateGroupBody>;

export const GroupMachineParams = Type.Object({ id: Id, machineId: Id }, { additionalProperties: false });
export const GroupUserParams = Type.Object({ id: Id, userId: Id }, { additionalProperties: false });

export const GroupAccessEntry = Type.Object({ user: UserSummary, access: AccessLevelEnum });
export type GroupAccessEntry = Static<typeof GroupAccessEntry>;

export const ShareGroupBody = Type.Object(
  { access: Type.Enum(['CoOwner', 'User'] as const) },
  { additionalProperties: false },
);
export type ShareGroupBody = Static<typeof ShareGroupBody>;

// ── Membership with the zero-knowledge group password ─────────────────────────────────────

export const KeyBundleResponse = Type.Object({
  groupId: Id,
  hasPassword: Type.Boolean(),
  /** Present once the first machine has joined. */
  keyBundle: Type.Optional(Type.String()),
  signingPublicKey: Type.Optional(Type.String()),
  encryptionPublicKey: Type.Optional(Type.String()),
  /** 0 before the first join; +1 at each password change. */
  keyVersion: Type.Integer(),
  passwordChangedAt: NullableTimestamp,
});
export type KeyBundleResponse = Static<typeof KeyBundleResponse>;

export const CHALLENGE_PURPOSES = ['join', 'password'] as const;
export type ChallengePurpose = (typeof CHALLENGE_PURPOSES)[number];

export const ChallengeBody = Type.Object(
  { purpose: Type.Enum(CHALLENGE_PURPOSES) },
  { additionalProperties: false },
);
export type ChallengeBody = Static<typeof ChallengeBody>;

export const ChallengeResponse = Type.Object({
  nonce: Type.String(),
  purpose: Type.String(),
  groupId: Id,
  machineId: Id,
  expiresAt: Timestamp,
});
export type ChallengeResponse = Static<typeof ChallengeResponse>;

export const FirstJoin = Type.Object(
  { keyBundle: KeyBundle, signingPublicKey: PublicKeyBase64, encryptionPublicKey: PublicKeyBase64 },
  { additionalProperties: false },
);
export type FirstJoin = Static<typeof FirstJoin>;

export const JoinGroupBody = Type.Object(
  { nonce: Nonce, signature: SignatureBase64, firstJoin: Type.Optional(FirstJoin) },
  { additionalProperties: false },
);
export type JoinGroupBody = Static<typeof JoinGroupBody>;

export const JoinGroupResponse = Type.Object({
  groupId: Id,
  machineId: Id,
  /** The group the machine was in before (it was moved), or null. */
  movedFrom: Type.Union([Type.Object({ id: Id, name: Type.String() }), Type.Null()]),
  /** True when this join set the group password (first machine). */
  setPassword: Type.Boolean(),
  /** How many connections that targeted the machine itself are now broken. */
  brokenConnections: Type.Integer(),
  keyVersion: Type.Integer(),
});
export type JoinGroupResponse = Static<typeof JoinGroupResponse>;

export const ReplaceKeyBundleBody = Type.Object(
  { nonce: Nonce, signature: SignatureBase64, keyBundle: KeyBundle },
  { additionalProperties: false },
);
export type ReplaceKeyBundleBody = Static<typeof ReplaceKeyBundleBody>;

export const ReplaceKeyBundleResponse = Type.Object({ groupId: Id, keyVersion: Type.Integer(), passwordChangedAt: Timestamp });
export type ReplaceKeyBundleResponse = Static<typeof ReplaceKeyBundleResponse>;

export const LeaveGroupResponse = Type.Object({ groupId: Id, machineId: Id });

export const GROUP_CHALLENGE_DOMAIN = 'machine-runtime/group-challenge/v1';

export interface GroupChallengeFields {
  purpose: ChallengePurpose;
  groupId: string;
  machineId: string;
  nonce: string;
  /** What the request installs (first join: bundle and both public keys; password: the new bundle). */
  keyBundle?: string;
  signingPublicKey?: string;
  encryptionPublicKey?: string;
}

/**
 * The exact bytes a machine signs with the group's Ed25519 key, and the cloud verifies. One
 * line per field (none can contain a newline: ids are uuids, the rest is base64), so no two
 * different requests share a message. It binds the purpose, the group, the machine, the
 * single-use nonce, and whatever the request uploads, so a proof cannot be replayed elsewhere.
 */
export function groupChallengeMessage(fields: GroupChallengeFields): Uint8Array {
  const lines = [
    GROUP_CHALLENGE_DOMAIN,
    `purpose:${fields.purpose}`,
    `group:${fields.groupId.toLowerCase()}`,
    `machine:${fields.machineId.toLowerCase()}`,
    `nonce:${fields.nonce}`,
    `bundle:${fields.keyBundle ?? ''}`,
    `signing:${fields.signingPublicKey ?? ''}`,
    `encryption:${fields.encryptionPublicKey ?? ''}`,
  ];
  for (const line of lines) if (line.includes('\n')) throw new Error('group challenge fields cannot contain newlines');
  return new TextEncoder().encode(lines.join('\n'));
}
