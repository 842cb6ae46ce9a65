import { MediaPool } from '../media/index.ts';
import type { Config } from '../src/config.ts';
import type { Logger } from '../src/log.ts';
import { embeddedKeys, Keyring } from '../src/privacy/keyring.ts';
import { openStore, type Store } from '../src/store/index.ts';

/**
 * The store, sealed with ENCRYPTION_KEYS, else (embedded only) a key generated
 * under DATA_DIR; an in-memory store's key dies with it.
 */
export function openStoreFor(
  config: Config,
  opts: { memoryStore?: boolean; encryption?: false },
): Promise<Store> {
  const keyring =
    opts.encryption === false
      ? undefined
      : config.encryptionKeys
        ? new Keyring(config.encryptionKeys)
        : opts.memoryStore
          ? Keyring.ephemeral()
          : new Keyring(embeddedKeys(config.dataDir));
  return openStore({
    databaseUrl: config.databaseUrl,
    dataDir: opts.memoryStore ? undefined : config.dataDir,
    poolSize: config.dbPoolSize,
    keyring,
  });
}

/** The SFU; a node without it still serves messaging and bookings (/readyz says degraded). */
export async function openMedia(config: Config, log: Logger): Promise<MediaPool | undefined> {
  try {
    return await MediaPool.create(config.media, log);
  } catch (e) {
    log.error(
      { err: (e as Error).message },
      'media workers failed to start; live audio and video are unavailable',
    );
    return undefined;
  }
}
