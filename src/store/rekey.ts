import type { Keyring } from '../privacy/keyring.ts';
import { chunkAad } from './attachments.ts';
import type { Db } from './db.ts';
import { metaAad, textAad } from './messages.ts';

/** Where a rekey pass has got to: the last message id and the last chunk it went past. */
export interface RekeyCursor {
  messageId?: string;
  chunk?: { attachmentId: string; idx: number };
}

/**
 * Re-sealing under the first key: one short transaction per batch, walking
 * the primary keys in order so a pass reads every row once. Rows already
 * under the first key are left as they are, so a batch done twice (a node
 * died after it committed but before its cursor was saved) changes nothing.
 */
export class RekeyStore {
  readonly #db: Db;
  readonly #keys: Keyring;
  constructor(db: Db, keys: Keyring) {
    this.#db = db;
    this.#keys = keys;
  }

  /** Re-seals the messages after `after` (by id); the last id it went past, or null at the end; how many it re-sealed. */
  async messages(
    after: string | undefined,
    limit: number,
  ): Promise<{ last: string | null; resealed: number }> {
    const keys = this.#keys;
    return this.#db.tx(async (q) => {
      const rows = await q.query<{ id: string; text: string | null; meta: unknown; kid: string | null }>(
        `SELECT id, text, meta, kid FROM messages WHERE ($1::text IS NULL OR id > $1::text)
          ORDER BY id LIMIT $2 FOR UPDATE`,
        [after ?? null, limit],
      );
      const ids: string[] = [];
      const texts: (string | null)[] = [];
      const metas: (string | null)[] = [];
      for (const r of rows) {
        if (r.kid === keys.current || (r.text === null && r.meta === null)) continue;
        const text = r.kid === null || r.text === null ? r.text : keys.openText(r.kid, r.text, textAad(r.id));
        const meta =
          r.meta === null
            ? null
            : r.kid === null
              ? JSON.stringify(r.meta)
              : keys.openText(r.kid, r.meta as string, metaAad(r.id));
        ids.push(r.id);
        texts.push(text === null ? null : keys.sealText(text, textAad(r.id)));
        metas.push(meta === null ? null : JSON.stringify(keys.sealText(meta, metaAad(r.id))));
      }
      if (ids.length) {
        await q.query(
          `UPDATE messages m SET text = u.text, meta = u.meta::jsonb, kid = $1
             FROM unnest($2::text[], $3::text[], $4::text[]) AS u (id, text, meta) WHERE m.id = u.id`,
          [keys.current, ids, texts, metas],
        );
      }
      return { last: rows.length < limit ? null : rows.at(-1)!.id, resealed: ids.length };
    });
  }

  /** Re-seals recording chunks after `after`, a few at a time (each is up to 256 KiB). */
  async chunks(
    after: { attachmentId: string; idx: number } | undefined,
    limit: number,
  ): Promise<{ last: { attachmentId: string; idx: number } | null; resealed: number }> {
    const keys = this.#keys;
    return this.#db.tx(async (q) => {
      const rows = await q.query<{ attachment_id: string; idx: number; kid: string | null }>(
        `SELECT attachment_id, idx, kid FROM attachment_chunks
          WHERE ($1::text IS NULL OR (attachment_id, idx) > ($1::text, $2::int))
          ORDER BY attachment_id, idx LIMIT $3 FOR UPDATE`,
        [after?.attachmentId ?? null, after?.idx ?? 0, limit],
      );
      let resealed = 0;
      for (const r of rows) {
        if (r.kid === keys.current) continue;
        const [c] = await q.query<{ data: string }>(
          `SELECT encode(data, 'base64') AS data FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2`,
          [r.attachment_id, r.idx],
        );
        const aad = chunkAad(r.attachment_id, r.idx);
        const stored = Buffer.from(c!.data, 'base64');
        const plain = r.kid === null ? stored : keys.open(r.kid, stored, aad);
        await q.query(
          `UPDATE attachment_chunks SET data = decode($3, 'base64'), kid = $4 WHERE attachment_id = $1 AND idx = $2`,
          [r.attachment_id, r.idx, keys.seal(plain, aad).toString('base64'), keys.current],
        );
        resealed++;
      }
      const end = rows.at(-1);
      return {
        last: rows.length < limit || !end ? null : { attachmentId: end.attachment_id, idx: end.idx },
        resealed,
      };
    });
  }

  /** Values not yet under the first key. */
  async remaining(): Promise<{ messages: number; chunks: number }> {
    const [r] = await this.#db.query<{ messages: number; chunks: number }>(
      `SELECT (SELECT count(*)::int FROM messages WHERE kid IS DISTINCT FROM $1 AND (text IS NOT NULL OR meta IS NOT NULL)) AS messages,
              (SELECT count(*)::int FROM attachment_chunks WHERE kid IS DISTINCT FROM $1) AS chunks`,
      [this.#keys.current],
    );
    return r!;
  }
}
