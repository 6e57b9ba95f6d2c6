/** Every input format; `auto` detects from content, with the path as a hint. */
export const FORMAT_NAMES = ['posthog', 'posthog-export', 'amplitude', 'segment', 'mixpanel', 'csv', 'users'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];
