import { linkKey } from '../../functions/core/links';

/** The sent-alias keys of batch `b` of test/support/links-process.ts: `per` new pairs. */
export const batchKeys = (b: number, per: number) => Array.from({ length: per }, (_, j) => linkKey({ anon: `dev-${b * per + j}`, user: `user-${b}` }));
