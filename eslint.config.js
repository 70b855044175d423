// ESLint (flat config) for the project's JavaScript: `npx eslint` from the repository root.
// tests/test_code_health.py runs it in CI and expects no errors and no warnings.
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  {
    ignores: ["**/node_modules/**", "bench/**", ".venv*/**", "build/**", "dist/**"],
  },
  {
    // The browser scripts, the app's and the example project's: classic scripts (no bundler), each a
    // closure that sets a property of window.realtime; those tests/js loads check `typeof module` first.
    files: ["realtime/**/static/**/*.js", "project/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { ...globals.browser, module: "readonly" },
    },
  },
  {
    // The client's ES module entry (realtime.mjs): what bundlers and <script type="module"> import.
    files: ["realtime/**/static/**/*.mjs"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "module",
      globals: { ...globals.browser },
    },
  },
  {
    // The unit tests of those scripts, run with `node --test tests/js/` (CommonJS, a fake DOM).
    files: ["tests/js/**/*.js", "eslint.config.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "commonjs",
      globals: { ...globals.node },
    },
  },
];
