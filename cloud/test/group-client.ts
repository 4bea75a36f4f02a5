/**
 * The machine side of group membership, for tests: what the CLI's `groups join` and
 * `groups password` do, built on the real client crypto (electron/runtime/group-crypto.ts) and
 * the real routes. Works through `app.inject` or over real HTTP (for racing requests).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  createGroupKeys,
  groupPublicKeys,
  signChallenge,
  unwrapGroupKeys,
  wrapGroupKeys,
  type GroupKeys,
} from '../../electron/runtime/group-crypto.ts';
import { groupChallengeMessage, type ChallengePurpose, type KeyBundleResponse } from '../../protocol/cloud-api.ts';
import type { Database } from '../src/db/database.ts';
import { accessToken } from './fixtures.ts';

export interface Reply {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Send = (method: Method, url: string, options?: { token?: string; body?: unknown }) => Promise<Reply>;

/** Requests through `app.inject`. */
export function injectSender(app: FastifyInstance): Send {
  return async (method, url, options = {}) => {
    const response = await app.inject({
      method,
      url,
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    });
    return { status: response.statusCode, body: response.body ? response.json() : null, headers: response.headers };
  };
}

/** Requests over real HTTP to a listening server (`baseUrl` like http://127.0.0.1:1234). */
export function httpSender(baseUrl: string): Send {
  return async (method, url, options = {}) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: Object.fromEntries(response.headers) };
  };
}

export interface TestMachine {
  id: string;
  token: string;
  name: string;
}

const rawPublicKey = (type: 'ed25519' | 'x25519') =>
  Buffer.from(generateKeyPairSync(type as 'ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');

/** A body for `POST /machines` with fresh (throwaway) machine keys. */
export function machineRegistration(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    signingPublicKey: rawPublicKey('ed25519'),
    encryptionPublicKey: rawPublicKey('x25519'),
    fingerprint: randomBytes(32).toString('hex'),
    os: 'linux',
    runtimeVersion: '0.1.0',
    ...extra,
  };
}

/** Registers a machine through `POST /machines` as `userToken` and mints its machine token. */
export async function registerMachine(send: Send, db: Database, userToken: string, name: string): Promise<TestMachine> {
  const reply = await send('POST', '/api/v1/machines', { token: userToken, body: machineRegistration(name) });
  if (reply.status !== 201) throw new Error(`registering ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { id: reply.body.id, name, token: await accessToken(db, { machineId: reply.body.id }) };
}

export async function fetchKeyBundle(send: Send, token: string, groupId: string): Promise<Reply & { body: KeyBundleResponse }> {
  return send('GET', `/api/v1/machine-groups/${groupId}/key-bundle`, { token });
}

export async function requestChallenge(send: Send, machine: TestMachine, groupId: string, purpose: ChallengePurpose): Promise<string> {
  const reply = await send('POST', `/api/v1/machine-groups/${groupId}/challenges`, { token: machine.token, body: { purpose } });
  if (reply.status !== 201) throw new ChallengeRefused(reply);
  return reply.body.nonce as string;
}

export class ChallengeRefused extends Error {
  constructor(readonly reply: Reply) {
    super(`challenge refused: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
}

/** The body of `POST …/members` for a group that already has keys (sign a fresh challenge). */
export async function signedJoin(send: Send, machine: TestMachine, groupId: string, keys: GroupKeys) {
  const nonce = await requestChallenge(send, machine, groupId, 'join');
  const signature = signChallenge(keys, groupChallengeMessage({ purpose: 'join', groupId, machineId: machine.id, nonce }));
  return { nonce, signature };
}

export function sendJoin(send: Send, machine: TestMachine, groupId: string, body: unknown): Promise<Reply> {
  return send('POST', `/api/v1/machine-groups/${groupId}/members`, { token: machine.token, body });
}

export interface JoinOutcome {
  reply: Reply;
  /** The group keys the machine now holds (it would keep them in its secret store). */
  keys?: GroupKeys;
}

/**
 * `groups join` as the runtime does it: fetch the bundle; no password yet → create the group
 * keys, wrap them with `password` and upload them with the first join; else unwrap the bundle
 * with `password` (a wrong one throws `IncorrectGroupPassword` here, on the machine) and sign.
 */
export async function joinGroup(send: Send, machine: TestMachine, groupId: string, password: string): Promise<JoinOutcome> {
  const bundle = await fetchKeyBundle(send, machine.token, groupId);
  if (bundle.status !== 200) return { reply: bundle };
  if (!bundle.body.hasPassword) {
    const keys = createGroupKeys();
    const keyBundle = await wrapGroupKeys(keys, password, groupId);
    const nonce = await requestChallenge(send, machine, groupId, 'join');
    const firstJoin = { keyBundle, ...groupPublicKeys(keys) };
    const signature = signChallenge(keys, groupChallengeMessage({ purpose: 'join', groupId, machineId: machine.id, nonce, ...firstJoin }));
    return { reply: await sendJoin(send, machine, groupId, { nonce, signature, firstJoin }), keys };
  }
  const keys = await unwrapGroupKeys(bundle.body.keyBundle!, password, groupId, {
    signingPublicKey: bundle.body.signingPublicKey!,
    encryptionPublicKey: bundle.body.encryptionPublicKey!,
  });
  return joinWithKeys(send, machine, groupId, keys);
}

/** Joins with keys already unwrapped (tests reuse one scrypt derivation for many machines). */
export async function joinWithKeys(send: Send, machine: TestMachine, groupId: string, keys: GroupKeys): Promise<JoinOutcome> {
  const body = await signedJoin(send, machine, groupId, keys);
  return { reply: await sendJoin(send, machine, groupId, body), keys };
}

/** `groups password` on a member machine: re-wrap the same keys with the new password. */
export async function changeGroupPassword(
  send: Send,
  machine: TestMachine,
  groupId: string,
  keys: GroupKeys,
  newPassword: string,
): Promise<Reply> {
  const keyBundle = await wrapGroupKeys(keys, newPassword, groupId);
  const nonce = await requestChallenge(send, machine, groupId, 'password');
  const signature = signChallenge(keys, groupChallengeMessage({ purpose: 'password', groupId, machineId: machine.id, nonce, keyBundle }));
  return send('PUT', `/api/v1/machine-groups/${groupId}/key-bundle`, { token: machine.token, body: { nonce, signature, keyBundle } });
}

/** `groups leave`: the machine takes itself out of the group. */
export function leaveGroup(send: Send, machine: TestMachine, groupId: string): Promise<Reply> {
  return send('DELETE', `/api/v1/machine-groups/${groupId}/machines/${machine.id}`, { token: machine.token });
}
