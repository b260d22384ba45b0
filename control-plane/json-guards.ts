/** Shapes of decoded JSON, checked at the edge before a body's fields are trusted. */

/** A JSON object (not an array, not null). */
export const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A JSON object whose values are all strings: labels, options. */
export const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((x) => typeof x === 'string');
