// Parses every ```mermaid block of the Markdown files named on the command line with Mermaid's own
// parser (in jsdom: Mermaid needs a DOM to load). Prints one line per diagram; exits 1 if any fails.
// Run by tests/test_docs_diagrams.py.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const { window } = new JSDOM("<!doctype html><html><body></body></html>");
Object.assign(globalThis, { window, document: window.document, DOMParser: window.DOMParser });
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failures = 0;
for (const file of process.argv.slice(2)) {
  const blocks = [...readFileSync(file, "utf8").matchAll(/^```mermaid\n([\s\S]*?)^```/gm)];
  for (const [index, [, diagram]] of blocks.entries()) {
    try {
      const { diagramType } = await mermaid.parse(diagram);
      console.log(`ok ${file} #${index + 1} ${diagramType}`);
    } catch (error) {
      failures += 1;
      console.log(`FAIL ${file} #${index + 1}: ${String(error?.message ?? error).slice(0, 500)}`);
    }
  }
}
process.exit(failures ? 1 : 0);
