/**
 * Identity area of the cloud API: setup, sign-in (`/auth/token`), the signed-in user, users,
 * environments, role assignments, registration tokens and the audit trail (CONTRACT.md,
 * "Setup and sign-in"). Token fields keep OAuth's snake_case names (`access_token`…).
 */
import { Type, type Static } from 'typebox';
import { DisplayName, Email, EnvironmentRoleSchema, Id, NullableTimestamp, ObjectName, Timestamp, UserPassword, UserSummary } from './common.ts';
import { JWT_BEARER_GRANT } from '../machine-assertion.ts';

/** Opaque tokens (refresh, registration) are `<prefix>_<43 base64url chars>`; bounded generously. */
const OpaqueToken = Type.String({ minLength: 1, maxLength: 200 });

// ── Setup ─────────────────────────────────────────────────────────────────────────────────

export const SetupStatus = Type.Object({ needsSetup: Type.Boolean() });
export type SetupStatus = Static<typeof SetupStatus>;

export const SetupRequest = Type.Object(
  { email: Email, password: UserPassword, displayName: DisplayName },
  { additionalProperties: false },
);
export type SetupRequest = Static<typeof SetupRequest>;

export const SetupResponse = Type.Object({
  user: UserSummary,
  environment: Type.Object({ id: Id, name: Type.String() }),
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
});
export type SetupResponse = Static<typeof SetupResponse>;

// ── Tokens ────────────────────────────────────────────────────────────────────────────────

export const PASSWORD_GRANT = 'password';
export const REFRESH_TOKEN_GRANT = 'refresh_token';

export const PasswordGrant = Type.Object(
  {
    grant_type: Type.Literal(PASSWORD_GRANT),
    // Not `Email`: a malformed address is simply an unknown account (401), not a hint.
    email: Type.String({ minLength: 1, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export const RefreshTokenGrant = Type.Object(
  { grant_type: Type.Literal(REFRESH_TOKEN_GRANT), refresh_token: OpaqueToken },
  { additionalProperties: false },
);
export const JwtBearerGrant = Type.Object(
  { grant_type: Type.Literal(JWT_BEARER_GRANT), assertion: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);
export const TokenRequest = Type.Union([PasswordGrant, RefreshTokenGrant, JwtBearerGrant], {
  description: 'JSON or application/x-www-form-urlencoded (OAuth 2.0 style).',
});
export type TokenRequest = Static<typeof TokenRequest>;

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  /** Seconds until the access token expires. */
  expires_in: Type.Integer(),
  /** User grants only; machines sign in again with a fresh assertion. */
  refresh_token: Type.Optional(Type.String()),
});
export type TokenResponse = Static<typeof TokenResponse>;

export const LogoutRequest = Type.Object({ refresh_token: OpaqueToken }, { additionalProperties: false });
export type LogoutRequest = Static<typeof LogoutRequest>;

// ── Me, users ─────────────────────────────────────────────────────────────────────────────

export const MyEnvironment = Type.Object({
  id: Id,
  name: Type.String(),
  roles: Type.Array(EnvironmentRoleSchema),
  isDefault: Type.Boolean(),
  restrictMachineRegistration: Type.Boolean(),
  /** What the policy lets the caller do there (for the app to offer only what is allowed). */
  mayRegisterMachines: Type.Boolean(),
  mayCreateGroups: Type.Boolean(),
});
export const Me = Type.Object({
  id: Id,
  email: Type.String(),
  displayName: Type.String(),
  environments: Type.Array(MyEnvironment),
});
export type Me = Static<typeof Me>;

const RoleList = Type.Array(EnvironmentRoleSchema, { uniqueItems: true, maxItems: 5 });

export const CreateUserRequest = Type.Object(
  {
    email: Email,
    displayName: DisplayName,
    password: UserPassword,
    /** Roles to give the new user in `environmentId` (default: the default environment). */
    roles: Type.Optional(RoleList),
    environmentId: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export type CreateUserRequest = Static<typeof CreateUserRequest>;

export const UserSearchQuery = Type.Object(
  { search: Type.Optional(Type.String({ maxLength: 100 })) },
  { additionalProperties: false },
);
export const USER_SEARCH_LIMIT = 20;
export const UserList = Type.Array(UserSummary);

// ── Environments and roles ────────────────────────────────────────────────────────────────

export const Environment = Type.Object({
  id: Id,
  name: Type.String(),
  isDefault: Type.Boolean(),
  restrictMachineRegistration: Type.Boolean(),
  /** The caller's own roles there. */
  roles: Type.Array(EnvironmentRoleSchema),
  /** What the policy lets the caller do there (for the app to offer only what is allowed). */
  mayRegisterMachines: Type.Boolean(),
  mayCreateGroups: Type.Boolean(),
});
export type Environment = Static<typeof Environment>;
export const EnvironmentList = Type.Array(Environment);

export const UpdateEnvironmentRequest = Type.Object(
  { restrictMachineRegistration: Type.Optional(Type.Boolean()), name: Type.Optional(ObjectName) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateEnvironmentRequest = Static<typeof UpdateEnvironmentRequest>;

export const RoleAssignmentParams = Type.Object({ id: Id, userId: Id }, { additionalProperties: false });
export const PutRoleAssignmentRequest = Type.Object(
  { roles: RoleList },
  { additionalProperties: false, description: 'Replaces the user\'s roles in the environment; [] removes them.' },
);
export type PutRoleAssignmentRequest = Static<typeof PutRoleAssignmentRequest>;
export const RoleAssignment = Type.Object({ user: UserSummary, roles: Type.Array(EnvironmentRoleSchema) });
export type RoleAssignment = Static<typeof RoleAssignment>;
export const RoleAssignmentList = Type.Array(RoleAssignment);

// ── Registration tokens ───────────────────────────────────────────────────────────────────

export const REGISTRATION_TOKEN_MAX_SECONDS = 30 * 24 * 3600;
export const REGISTRATION_TOKEN_MAX_USES = 1000;

export const CreateRegistrationTokenRequest = Type.Object(
  {
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: REGISTRATION_TOKEN_MAX_SECONDS })),
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: REGISTRATION_TOKEN_MAX_USES })),
  },
  { additionalProperties: false },
);
export type CreateRegistrationTokenRequest = Static<typeof CreateRegistrationTokenRequest>;

export const CreatedRegistrationToken = Type.Object({
  id: Id,
  environmentId: Id,
  /** Shown once; the server keeps only its hash. Use as `Authorization: RegistrationToken <token>`. */
  token: Type.String(),
  expiresAt: Timestamp,
  maxUses: Type.Integer(),
});
export type CreatedRegistrationToken = Static<typeof CreatedRegistrationToken>;

export const RegistrationTokenStatusSchema = Type.Union([
  Type.Literal('Active'),
  Type.Literal('Expired'),
  Type.Literal('UsedUp'),
  Type.Literal('Revoked'),
]);
export const RegistrationTokenInfo = Type.Object({
  id: Id,
  environmentId: Id,
  creator: Type.Object({ id: Id, displayName: Type.String() }),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  maxUses: Type.Union([Type.Integer(), Type.Null()]),
  usesLeft: Type.Integer(),
  revokedAt: NullableTimestamp,
  status: RegistrationTokenStatusSchema,
});
export type RegistrationTokenInfo = Static<typeof RegistrationTokenInfo>;
export const RegistrationTokenList = Type.Array(RegistrationTokenInfo);
export const RegistrationTokenParams = Type.Object({ id: Id, tokenId: Id }, { additionalProperties: false });

// ── Audit ─────────────────────────────────────────────────────────────────────────────────

export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    /** The `id` of the oldest event already seen: returns older ones (paging). */
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    environmentId: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export const AuditEventSchema = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  environmentId: Type.Union([Id, Type.Null()]),
  actor: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  action: Type.String(),
  target: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEventRecord = Static<typeof AuditEventSchema>;
export const AuditEventList = Type.Array(AuditEventSchema);
