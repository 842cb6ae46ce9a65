import { mkdirSync } from 'node:fs';
import type { Keyring } from '../../privacy/keyring.ts';
import type { Db } from '../queryable.ts';
import { EmbeddedDb } from './client.ts';
import { ensureTemplate, isCluster } from './template.ts';

/**
 * The embedded store under `dataDir` (in `pg/`), or in memory without one.
 * `migrated`: a fresh store starts as a copy of the migrated template
 * (template.ts), for callers that migrate anyway (openStore); without it a
 * fresh store is empty, as a fresh PostgreSQL database is.
 */
export async function openEmbedded(
  dataDir: string | undefined,
  keyring: Keyring | undefined,
  migrated: boolean,
): Promise<Db> {
  const dir = dataDir && `${dataDir}/pg`;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const fresh = !dir || !isCluster(dir);
  const template = migrated && fresh ? await ensureTemplate() : undefined;
  return EmbeddedDb.open({ dir, template }, keyring);
}
