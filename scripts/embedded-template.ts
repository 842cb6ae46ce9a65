// Makes the embedded store's template (src/store/embedded/template.ts) if it is missing and prints
// its directory: setup.sh and the Dockerfile run it so that a fresh DATA_DIR starts as a copy.
import { START_PARAMS } from '../src/store/embedded/open.ts';
import { makeTemplate } from '../src/store/embedded/template.ts';

process.stdout.write(`${(await makeTemplate(START_PARAMS)).dir}\n`);
