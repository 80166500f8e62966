// Types of scripts/extract-card-schema.js, for the test that keeps src/lib/card/schema-v03.ts in step.
type Schema = { [keyword: string]: unknown }
export const SOURCE: string
export const TARGET: string
export function extractCardSchema(document: { $schema?: string; definitions: Record<string, Schema> }): {
  $schema?: string
  $ref: string
  definitions: Record<string, Schema>
}
export function renderSchemaModule(schema: unknown): Promise<string>
export function generateSchemaModule(path?: string): Promise<string>
