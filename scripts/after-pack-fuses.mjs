// electron-builder `afterPack` hook: flips the Electron fuses of the packed binary (before
// electron-builder signs it). Fuses are build-time switches baked into the Electron binary:
//   RunAsNode off                          ELECTRON_RUN_AS_NODE cannot turn the app into a Node shell
//   EnableCookieEncryption on              cookies at rest are encrypted with an OS-protected key
//   EnableNodeOptionsEnvironmentVariable   off: NODE_OPTIONS cannot inject code
//   EnableNodeCliInspectArguments          off: --inspect cannot attach a debugger
//   EnableEmbeddedAsarIntegrityValidation  on: a modified app.asar is refused (macOS, Windows)
//   OnlyLoadAppFromAsar on                 the app is loaded from app.asar only
//   GrantFileProtocolExtraPrivileges off   file:// gets no special powers (we use app://)
import path from 'node:path';
import { FuseV1Options, FuseVersion, flipFuses } from '@electron/fuses';

/** electron-builder's Arch enum value for arm64. */
const ARCH_ARM64 = 3;

export const FUSES = {
  version: FuseVersion.V1,
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableCookieEncryption]: true,
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
};

/** The packed Electron executable (what the fuses live in) for a pack context. */
export function packedExecutable(context) {
  const { appOutDir, electronPlatformName, packager } = context;
  switch (electronPlatformName) {
    case 'darwin':
    case 'mas':
      return path.join(appOutDir, `${packager.appInfo.productFilename}.app`);
    case 'win32':
      return path.join(appOutDir, `${packager.appInfo.productFilename}.exe`);
    default:
      return path.join(appOutDir, packager.executableName);
  }
}

export async function afterPack(context) {
  const executable = packedExecutable(context);
  const darwin = context.electronPlatformName === 'darwin' || context.electronPlatformName === 'mas';
  await flipFuses(executable, { ...FUSES, resetAdHocDarwinSignature: darwin && context.arch === ARCH_ARM64 });
  console.log(`  • fuses flipped in ${executable}`);
}

export default afterPack;
