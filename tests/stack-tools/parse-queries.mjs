// Parses queries with the grammars Grafana's query editors use and reports every syntax
// error. Input (stdin): a JSON array of {"id", "language": "promql"|"traceql"|"logql",
// "query"}. Output (stdout): a JSON array of {"id", "ok", "error"} in the same order.
// Used by tests/tests/stack_queries.rs; `npm ci` in this directory installs the grammars.
import { parser as promql } from "@prometheus-io/lezer-promql";
import { parser as traceql } from "@grafana/lezer-traceql";
import { parser as logql } from "@grafana/lezer-logql";

const parsers = { promql, traceql, logql };

function firstError(parser, query) {
  const tree = parser.parse(query);
  let found = null;
  tree.iterate({
    enter(node) {
      if (found === null && node.type.isError) {
        found = node.from;
        return false;
      }
      return undefined;
    },
  });
  return found;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const items = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = items.map(({ id, language, query }) => {
  const parser = parsers[language];
  if (!parser) return { id, ok: false, error: `unknown language ${language}` };
  const at = firstError(parser, query);
  if (at === null) return { id, ok: true, error: null };
  return {
    id,
    ok: false,
    error: `syntax error at ${at}: ${query.slice(0, at)}<<HERE>>${query.slice(at, at + 40)}`,
  };
});
process.stdout.write(JSON.stringify(results));
