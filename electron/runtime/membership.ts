/**
 * Group membership as a machine does it (protocol/api/groups.ts), shared by the CLI's
 * `groups join|password|leave` and the desktop app. The group password never leaves this
 * machine: it unwraps (or, for the first machine, creates and wraps) the group keys here, and
 * membership is proven by signing a single-use server challenge with the group key.
 *
 * The group keys are kept in the SecretStore as `group-key:<groupId>`; a machine holds the key
 * of its own group only (joining another group, or leaving, forgets the old one).
 */
import { groupChallengeMessage } from '../../protocol/api/groups.ts';
import type { MachineGroup } from '../../protocol/api/groups.ts';
import { CloudError, type CallAs, type CloudClient } from './cloud-client.ts';
import {
  createGroupKeys,
  groupPublicKeys,
  parseGroupKeys,
  serializeGroupKeys,
  signChallenge,
  unwrapGroupKeys,
  wrapGroupKeys,
  type GroupKeys,
} from './group-crypto.ts';
import type { RuntimeProfile } from './profile.ts';
import { groupKeySecret } from './secret-store.ts';

export type MembershipPhase = 'fetching' | 'deriving-key' | 'proving';

export interface MembershipOptions {
  /** Progress for a visible line while the key is derived (the slow part: scrypt N=2^17). */
  onProgress?: (phase: MembershipPhase) => void;
}

export interface Timings {
  totalMs: number;
  /** Time spent deriving the key from the password (scrypt), the share `bench:join` reports. */
  keyDerivationMs: number;
}

export interface JoinResult {
  groupId: string;
  groupName: string | null;
  /** This machine was the first: the password it was given is now the group's. */
  setPassword: boolean;
  /** The group the machine was moved out of, if any. */
  movedFrom: { id: string; name: string } | null;
  brokenConnections: number;
  keyVersion: number;
  timings: Timings;
}

const now = () => performance.now();

/**
 * A group by id or by name (case-insensitive), among the groups the caller can see.
 * `NotFound` when none matches; `ValidationFailed` when a name matches several (give the id).
 */
export async function resolveGroup(cloud: CloudClient, nameOrId: string, as: CallAs = 'user'): Promise<MachineGroup> {
  const wanted = nameOrId.trim();
  const groups = await cloud.listGroups({}, as);
  const byId = groups.find((g) => g.id.toLowerCase() === wanted.toLowerCase());
  if (byId) return byId;
  const byName = groups.filter((g) => g.name.toLowerCase() === wanted.toLowerCase());
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) {
    throw new CloudError({
      status: 0,
      code: 'ValidationFailed',
      detail: `Several machine groups are named "${wanted}" (${byName.map((g) => g.id).join(', ')}); give the id instead.`,
    });
  }
  throw new CloudError({ status: 404, code: 'NotFound', detail: `No machine group "${wanted}" that you can see.` });
}

function registeredMachineId(profile: RuntimeProfile): string {
  const machineId = profile.settings.get('machineId');
  if (!machineId) throw new CloudError({ status: 0, code: 'NotRegistered', detail: 'This machine is not registered.' });
  return machineId;
}

/** The group keys this machine holds for `groupId`, or null. */
export async function heldGroupKeys(profile: RuntimeProfile, groupId: string): Promise<GroupKeys | null> {
  const stored = await profile.secrets.get(groupKeySecret(groupId));
  return stored ? parseGroupKeys(stored) : null;
}

/**
 * Adds this machine to the group (moving it out of its current group, if any). The first
 * machine of a group sets `password`; any later one must give the same password, checked here
 * (a wrong one throws GroupCryptoError `IncorrectGroupPassword` before anything is sent).
 */
export async function joinGroup(
  profile: RuntimeProfile,
  cloud: CloudClient,
  group: { id: string; name?: string },
  password: string,
  options: MembershipOptions = {},
): Promise<JoinResult> {
  const started = now();
  const machineId = registeredMachineId(profile);
  const groupId = group.id;
  options.onProgress?.('fetching');
  const bundle = await cloud.getKeyBundle(groupId);

  let keys: GroupKeys;
  let firstJoin: { keyBundle: string; signingPublicKey: string; encryptionPublicKey: string } | undefined;
  options.onProgress?.('deriving-key');
  const derivation = now();
  if (!bundle.hasPassword) {
    keys = createGroupKeys();
    firstJoin = { keyBundle: await wrapGroupKeys(keys, password, groupId), ...groupPublicKeys(keys) };
  } else {
    keys = await unwrapGroupKeys(bundle.keyBundle ?? '', password, groupId, {
      ...(bundle.signingPublicKey !== undefined ? { signingPublicKey: bundle.signingPublicKey } : {}),
      ...(bundle.encryptionPublicKey !== undefined ? { encryptionPublicKey: bundle.encryptionPublicKey } : {}),
    });
  }
  const keyDerivationMs = now() - derivation;

  options.onProgress?.('proving');
  const { nonce } = await cloud.createChallenge(groupId, 'join');
  const signature = signChallenge(keys, groupChallengeMessage({ purpose: 'join', groupId, machineId, nonce, ...firstJoin }));
  // Keep the key before the cloud records the membership, so a member never lacks it; undo on refusal.
  const wasCurrent = profile.settings.get('groupId') === groupId;
  await profile.secrets.set(groupKeySecret(groupId), serializeGroupKeys(keys));
  let result;
  try {
    result = await cloud.joinGroup(groupId, { nonce, signature, ...(firstJoin ? { firstJoin } : {}) });
  } catch (error) {
    if (!wasCurrent) await profile.secrets.delete(groupKeySecret(groupId));
    throw error;
  }
  await profile.setGroup({ id: groupId, ...(group.name !== undefined ? { name: group.name } : {}) });
  return {
    groupId,
    groupName: group.name ?? null,
    setPassword: result.setPassword,
    movedFrom: result.movedFrom,
    brokenConnections: result.brokenConnections,
    keyVersion: result.keyVersion,
    timings: { totalMs: now() - started, keyDerivationMs },
  };
}

/**
 * On a member machine: re-wraps the group's keys with a new password (the keys themselves, and
 * so every connection sealed to the group, stay the same). Old password stops working at once.
 */
export async function changeGroupPassword(
  profile: RuntimeProfile,
  cloud: CloudClient,
  groupId: string,
  newPassword: string,
  options: MembershipOptions = {},
): Promise<{ groupId: string; keyVersion: number; passwordChangedAt: string; timings: Timings }> {
  const started = now();
  const machineId = registeredMachineId(profile);
  const keys = await heldGroupKeys(profile, groupId);
  if (!keys) {
    throw new CloudError({
      status: 0,
      code: 'NotInGroup',
      detail: 'This machine does not hold the key of that group: change the password on a machine of the group.',
    });
  }
  options.onProgress?.('deriving-key');
  const derivation = now();
  const keyBundle = await wrapGroupKeys(keys, newPassword, groupId);
  const keyDerivationMs = now() - derivation;
  options.onProgress?.('proving');
  const { nonce } = await cloud.createChallenge(groupId, 'password');
  const signature = signChallenge(keys, groupChallengeMessage({ purpose: 'password', groupId, machineId, nonce, keyBundle }));
  const result = await cloud.replaceKeyBundle(groupId, { nonce, signature, keyBundle });
  return { ...result, timings: { totalMs: now() - started, keyDerivationMs } };
}

/** This machine leaves its group (the one the cloud says it is in) and forgets the group key. */
export async function leaveGroup(profile: RuntimeProfile, cloud: CloudClient): Promise<{ groupId: string }> {
  const machineId = registeredMachineId(profile);
  const machine = await cloud.getMachine(machineId, 'machine');
  const groupId = machine.groupId ?? profile.settings.get('groupId');
  if (!groupId) throw new CloudError({ status: 0, code: 'NotInGroup', detail: 'This machine is not in a machine group.' });
  if (machine.groupId) await cloud.removeGroupMachine(groupId, machineId, 'machine');
  await profile.setGroup(null);
  return { groupId };
}
