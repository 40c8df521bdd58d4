// The reference the Plue template renderer is compared against: handlebars.js itself.
//
//   node reference.mjs CORPUS.json   render every case of a corpus file
//   node reference.mjs -             render the cases read from stdin: a JSON array, or one case
//
// Each case is {"name", "template", "context", "partials"}; the answer on stdout is, for each
// case in order, {"name", "output"} or {"name", "error"} (handlebars.js rejected the template
// or failed while rendering it): a JSON array, or one object when one case was given.
//
// Every case gets a fresh Handlebars environment (compiled partials are cached in the
// environment's partial table), the four Plue helpers, its partials, and is compiled with
// {noEscape: true, strict: false} like Plue's renderer. The helpers below are the
// specification of Plue's `json`, `join`, `eq` and `default`: keep the two in step.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Handlebars = require("handlebars");

// `{{log}}` writes to the console: keep stdout for the answer.
for (const method of ["log", "info", "warn", "error", "debug"]) {
  console[method] = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
}

function positional(args) {
  return Array.prototype.slice.call(args, 0, -1);
}

const plueHelpers = {
  json: function () {
    const args = positional(arguments);
    const options = arguments[arguments.length - 1];
    return JSON.stringify(args[0], null, options.hash.indent);
  },
  join: function () {
    const args = positional(arguments);
    const value = args[0];
    if (Array.isArray(value)) {
      return value.join(args.length > 1 ? args[1] : undefined);
    }
    return value == null ? "" : String(value);
  },
  eq: function () {
    const args = positional(arguments);
    return args[0] === args[1];
  },
  default: function () {
    const args = positional(arguments);
    const value = args[0];
    return value === undefined || value === null || value === "" ? args[1] : value;
  },
};

function render(testCase) {
  const env = Handlebars.create();
  env.registerHelper(plueHelpers);
  for (const [name, source] of Object.entries(testCase.partials || {})) {
    env.registerPartial(name, source);
  }
  try {
    const template = env.compile(testCase.template, { noEscape: true, strict: false });
    return { name: testCase.name, output: template(testCase.context === undefined ? {} : testCase.context) };
  } catch (error) {
    return { name: testCase.name, error: String((error && error.message) || error) };
  }
}

const source = process.argv[2];
if (!source) {
  process.stderr.write("usage: node reference.mjs CORPUS.json | -\n");
  process.exit(2);
}
const input = JSON.parse(readFileSync(source === "-" ? 0 : source, "utf8"));
process.stdout.write(JSON.stringify(Array.isArray(input) ? input.map(render) : render(input)));
