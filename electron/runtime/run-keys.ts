/**
 * The keys that open connection credentials, from the machine's secret store: the group key
 * pair this machine unwrapped when it joined (group-crypto.ts, `group-key:<groupId>`), or the
 * machine's own X25519 key (identity.ts) for connections that target the machine itself.
 */
import { createPublicKey } from 'node:crypto';
import type { SecretStore } from './secret-store.ts';
import { groupKeySecret } from './secret-store.ts';
import { parseGroupKeys } from './group-crypto.ts';
import { loadMachineKeys, rawPrivateKey, rawPublicKey } from './identity.ts';
import type { CredentialKeys } from './run-executor.ts';
import { keyPairFromBase64 } from './sealed-box.ts';

export function secretStoreCredentialKeys(store: SecretStore): CredentialKeys {
  return {
    async keyPairFor(target) {
      if (target.type === 'MachineGroup') {
        const serialized = await store.get(groupKeySecret(target.id));
        if (!serialized) return null;
        const keys = parseGroupKeys(serialized);
        return keyPairFromBase64(keys.encryption.publicKey, keys.encryption.privateKey);
      }
      const machine = await loadMachineKeys(store);
      if (!machine) return null;
      return {
        publicKey: new Uint8Array(Buffer.from(rawPublicKey(createPublicKey(machine.encryptionPrivateKey)), 'base64')),
        privateKey: rawPrivateKey(machine.encryptionPrivateKey),
      };
    },
  };
}
