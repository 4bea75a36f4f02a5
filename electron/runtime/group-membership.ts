/**
 * This machine's group membership, as the CLI's `groups join|leave|password` and the desktop
 * app's Join / Leave / Edit group password do it (ARCHITECTURE.md, "Group password"):
 *   join: fetch the group's key bundle; none yet → create the group keys, wrap them with the new
 *         password and upload them with the first join; else unwrap the bundle here (a wrong
 *         password fails the GCM check: `IncorrectGroupPassword`, nothing sent); then prove the
 *         key by signing a fresh single-use challenge. The keys go to the secret store.
 *   password: re-wrap the same keys under a new password, proven the same way.
 *   leave: the machine leaves and forgets the group key.
 * The password never leaves this process; the cloud only sees the wrapped bundle and signatures.
 */
import {
  checkGroupPassword,
  createGroupKeys,
  groupPublicKeys,
  parseGroupKeys,
  serializeGroupKeys,
  signChallenge,
  unwrapGroupKeys,
  wrapGroupKeys,
  type GroupKeys,
} from './group-crypto.ts';
import { groupChallengeMessage, type JoinGroupResponse, type MachineGroup } from '../../protocol/cloud-api.ts';
import { CloudError, type CloudClient } from './cloud-client.ts';
import { groupKeySecret } from './secret-store.ts';
import type { RuntimeProfile } from './profile.ts';

export type MembershipProgress = (step: 'fetching' | 'deriving' | 'proving' | 'saving') => void;

export interface JoinResult extends JoinGroupResponse {
  groupName: string;
}

function machineIdOf(profile: RuntimeProfile): string {
  const machineId = profile.settings.get('machineId');
  if (!machineId) throw new CloudError({ status: 0, code: 'NotRegistered', detail: 'Register this machine first (machine-runtime register).' });
  return machineId;
}

/** Finds a group the caller can see by id or by name (case-insensitive). */
export async function findGroup(cloud: CloudClient, nameOrId: string, as: 'user' | 'machine' = 'user'): Promise<MachineGroup> {
  const groups = await cloud.listGroups({}, as);
  const wanted = nameOrId.trim().toLowerCase();
  const match = groups.find((g) => g.id.toLowerCase() === wanted) ?? groups.find((g) => g.name.toLowerCase() === wanted);
  if (!match) throw new CloudError({ status: 404, code: 'NotFound', detail: `No machine group "${nameOrId}" that you can see.` });
  return match;
}

/** Does the group already have a password (a machine has joined before)? */
export async function groupHasPassword(cloud: CloudClient, groupId: string): Promise<boolean> {
  return (await cloud.getKeyBundle(groupId)).hasPassword;
}

export async function joinGroup(
  profile: RuntimeProfile,
  cloud: CloudClient,
  group: { id: string; name: string },
  password: string,
  progress: MembershipProgress = () => undefined,
): Promise<JoinResult> {
  const machineId = machineIdOf(profile);
  progress('fetching');
  const bundle = await cloud.getKeyBundle(group.id);
  let keys: GroupKeys;
  let firstJoin: { keyBundle: string; signingPublicKey: string; encryptionPublicKey: string } | undefined;
  progress('deriving');
  if (bundle.hasPassword && bundle.keyBundle) {
    keys = await unwrapGroupKeys(bundle.keyBundle, password, group.id, {
      ...(bundle.signingPublicKey ? { signingPublicKey: bundle.signingPublicKey } : {}),
      ...(bundle.encryptionPublicKey ? { encryptionPublicKey: bundle.encryptionPublicKey } : {}),
    });
  } else {
    checkGroupPassword(password);
    keys = createGroupKeys();
    firstJoin = { keyBundle: await wrapGroupKeys(keys, password, group.id), ...groupPublicKeys(keys) };
  }
  progress('proving');
  const challenge = await cloud.createChallenge(group.id, 'join');
  const signature = signChallenge(
    keys,
    groupChallengeMessage({ purpose: 'join', groupId: group.id, machineId, nonce: challenge.nonce, ...firstJoin }),
  );
  const result = await cloud.joinGroup(group.id, { nonce: challenge.nonce, signature, ...(firstJoin ? { firstJoin } : {}) });
  progress('saving');
  await profile.secrets.set(groupKeySecret(group.id), serializeGroupKeys(keys));
  await profile.setGroup({ id: group.id, name: group.name });
  return { ...result, groupName: group.name };
}

/** The group keys this machine holds (it must be a member). */
export async function heldGroupKeys(profile: RuntimeProfile, groupId: string): Promise<GroupKeys> {
  const stored = await profile.secrets.get(groupKeySecret(groupId));
  if (!stored || profile.settings.get('groupId') !== groupId) {
    throw new CloudError({
      status: 0,
      code: 'NotInGroup',
      detail: 'This machine is not a member of that group, so it cannot change its password; run it on a member machine.',
    });
  }
  return parseGroupKeys(stored);
}

export async function changeGroupPassword(
  profile: RuntimeProfile,
  cloud: CloudClient,
  groupId: string,
  newPassword: string,
  progress: MembershipProgress = () => undefined,
): Promise<{ keyVersion: number }> {
  const machineId = machineIdOf(profile);
  const keys = await heldGroupKeys(profile, groupId);
  checkGroupPassword(newPassword);
  progress('deriving');
  const keyBundle = await wrapGroupKeys(keys, newPassword, groupId);
  progress('proving');
  const challenge = await cloud.createChallenge(groupId, 'password');
  const signature = signChallenge(
    keys,
    groupChallengeMessage({ purpose: 'password', groupId, machineId, nonce: challenge.nonce, keyBundle }),
  );
  const result = await cloud.replaceKeyBundle(groupId, { nonce: challenge.nonce, signature, keyBundle });
  return { keyVersion: result.keyVersion };
}

/** This machine leaves its group (as itself) and forgets the group key. */
export async function leaveGroup(profile: RuntimeProfile, cloud: CloudClient): Promise<{ groupId: string; groupName: string | null }> {
  const machineId = machineIdOf(profile);
  const machine = await cloud.getMachine(machineId, 'machine');
  const groupId = machine.groupId ?? profile.settings.get('groupId');
  if (!groupId) {
    throw new CloudError({ status: 409, code: 'NotInGroup', detail: 'This machine is not in a machine group.' });
  }
  const groupName = profile.settings.get('groupName') ?? null;
  if (machine.groupId) await cloud.removeGroupMachine(groupId, machineId, 'machine');
  await profile.setGroup(null);
  return { groupId, groupName };
}
