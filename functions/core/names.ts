// Choices the CLI lists in --help; kept free of zod so printing them loads nothing heavy.
export const PERSON_MODES = ['set_once', 'set'] as const;
