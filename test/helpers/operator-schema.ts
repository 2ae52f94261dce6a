/**
 * prometheus-operator CRD schemas for validating generated manifests: the fixtures under
 * test/fixtures/prometheus-operator/, and a strict variant of a schema the way
 * `kubectl apply --validate=strict` reads it.
 */
import { readFileSync } from 'node:fs';

export type Json = Record<string, unknown>;

/** A JSON fixture of test/fixtures/prometheus-operator/ (a CRD's OpenAPI schema). */
export const operatorFixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/prometheus-operator/${name}`, import.meta.url), 'utf8')) as Json;

/** `additionalProperties: false` on every object schema that lists its properties (unknown fields are errors). */
export function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema))
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, closed(s)])) : closed(v);
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}
