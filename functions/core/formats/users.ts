import stringify from 'safe-stable-stringify';
import { reject } from '../event';
import { compact, idOf, isPlainObject, personUpdate } from '../properties';
import { parseTimestamp } from '../timestamp';
import { deriveUuid } from '../uuid';
import { buildEvent } from './build';
import { typed } from './csv';
import type { Format } from './types';

/**
 * A users file (JSONL or CSV): a distinct id and person properties, either as
 * `{"distinct_id", "properties": {…}}` or flat columns. Each becomes an `$identify` carrying
 * the properties as `$set_once` (or `$set` by config). An optional `timestamp` is kept.
 */
export const usersFormat: Format = {
  name: 'users',
  toEvents(raw, ctx) {
    if (!isPlainObject(raw)) return reject('not_an_object', 'record is not a JSON object');
    const idKey = ctx.mapping.users.distinctId;
    const distinctId = idOf(raw[idKey]);
    if (!distinctId) return reject('missing_distinct_id', `"${idKey}" is missing or empty`);
    let person: Record<string, unknown>;
    if (raw.properties !== undefined) {
      if (!isPlainObject(raw.properties)) return reject('invalid_properties', 'properties is not an object');
      person = raw.properties;
    } else {
      person = {};
      for (const [k, v] of Object.entries(raw)) if (k !== idKey && k !== 'timestamp') person[k] = typed(v);
    }
    person = compact(person);
    let timestamp: string | undefined;
    if (raw.timestamp !== undefined && raw.timestamp !== '' && raw.timestamp !== null) {
      const ts = parseTimestamp(raw.timestamp, ctx.now);
      if (typeof ts !== 'string') return ts;
      timestamp = ts;
    }
    // The record as read (sorted keys): not the id column the mapping names, nor the typing.
    const uuid = deriveUuid('users', stringify(raw) ?? '');
    const props = personUpdate({}, person, ctx.mapping.personMode);
    return { events: [buildEvent({ uuid, event: '$identify', distinctId, timestamp, properties: props }, ctx)] };
  },
};
