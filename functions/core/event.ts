/** The event we post to PostHog's /batch/ endpoint, after transform and validation. */
export interface PostHogEvent {
  uuid: string;
  event: string;
  distinct_id: string;
  /** ISO 8601 UTC. Absent means PostHog stamps the time of ingestion. */
  timestamp?: string;
  properties: Record<string, unknown>;
}

/** Why a record was not sent. `code` groups the report; `message` says what was wrong. */
export interface Rejection {
  code: RejectCode;
  message: string;
}

export type RejectCode =
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_event'
  | 'missing_distinct_id'
  | 'invalid_timestamp'
  | 'future_timestamp'
  | 'invalid_uuid'
  | 'invalid_properties'
  | 'event_too_large'
  | 'record_too_large'
  | 'refused_by_capture'
  | 'invalid_utf8'
  | 'invalid_record'
  | 'invalid_groups';

export const reject = (code: RejectCode, message: string): Rejection => ({ code, message });
