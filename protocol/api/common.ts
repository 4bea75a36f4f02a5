/** Shapes shared by every area of the cloud API. */
import { Type, type Static } from 'typebox';

export const ACCESS_LEVELS = ['Owner', 'CoOwner', 'User'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];
export const AccessLevelSchema = Type.Enum(ACCESS_LEVELS);

export const ENVIRONMENT_ROLES = [
  'EnvironmentAdmin',
  'EnvironmentMaker',
  'MachineOwner',
  'MachineUser',
  'MachineUserCanShare',
] as const;
export type EnvironmentRole = (typeof ENVIRONMENT_ROLES)[number];
export const EnvironmentRoleSchema = Type.Enum(ENVIRONMENT_ROLES);

export const Id = Type.String({ format: 'uuid', description: 'A server-made identifier' });
export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
/** User passwords: long passphrases welcome; the upper bound keeps key derivation bounded. */
export const UserPassword = Type.String({ minLength: 8, maxLength: 256 });
export const DisplayName = Type.String({ minLength: 1, maxLength: 100 });
/** Reference page: machine name unique, at most 100 characters; description at most 2,000. */
export const ObjectName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
export const Description = Type.String({ maxLength: 2000 });

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    retryAfter: Type.Optional(Type.Integer()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'application/problem+json' },
);

export const UserSummary = Type.Object({ id: Id, email: Type.String(), displayName: Type.String() });
export type UserSummary = Static<typeof UserSummary>;

export const OwnerSummary = Type.Object({ id: Id, displayName: Type.String() });
